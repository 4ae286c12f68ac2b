//! A small CLAP host for the tests, on `clack-host`: it loads the bundled `Encore.clap`, answers
//! the plugin's callbacks the way a DAW would (main-thread callbacks run on the main thread,
//! thread-check tells the plugin which thread it is on) and streams audio through it from a
//! separate audio thread.

use std::cell::Cell;
use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfoBuffer, AudioPortRescanFlags, HostAudioPorts, HostAudioPortsImpl,
    PluginAudioPorts,
};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer,
    ParamInfoFlags, ParamRescanFlags, PluginParams,
};
use clack_extensions::state::{HostState, HostStateImpl, PluginState};
use clack_extensions::thread_check::{HostThreadCheck, HostThreadCheckImpl};
use clack_host::events::EventFlags;
use clack_host::events::Pckn;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

pub const PLUGIN_ID: &CStr = c"app.encore.jukebox";

thread_local! {
    /// Set on the threads this host uses as audio threads.
    static IS_AUDIO_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// The bundle `cargo xtask bundle` builds (on Linux a `.clap` is one shared object).
pub fn bundle_path() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bundled/Encore.clap");
    assert!(
        path.is_file(),
        "{} does not exist: run `cargo xtask bundle` first",
        path.display()
    );
    path
}

pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread<'a>;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostLog>()
            .register::<HostThreadCheck>()
            .register::<HostLatency>()
            .register::<HostAudioPorts>()
            .register::<HostParams>()
            .register::<HostState>();
    }
}

/// Everything the plugin may reach from any thread.
pub struct Shared {
    main_thread: ThreadId,
    pub callback_requested: AtomicBool,
    /// Restarts the plugin asked for (deactivate + activate); Encore has no reason to.
    pub restarts_requested: AtomicU64,
    /// Calls from the plugin that broke CLAP's threading rules.
    pub thread_violations: Mutex<Vec<String>>,
    pub errors_logged: Mutex<Vec<String>>,
    pub extensions: OnceLock<PluginExtensions>,
}

/// The plugin's side of the extensions this host uses.
#[derive(Clone, Copy)]
pub struct PluginExtensions {
    pub audio_ports: Option<PluginAudioPorts>,
    pub audio_ports_config: Option<PluginAudioPortsConfig>,
    pub latency: Option<PluginLatency>,
    pub params: Option<PluginParams>,
    pub state: Option<PluginState>,
}

impl Shared {
    fn new() -> Self {
        Self {
            main_thread: std::thread::current().id(),
            callback_requested: AtomicBool::new(false),
            restarts_requested: AtomicU64::new(0),
            thread_violations: Mutex::new(Vec::new()),
            errors_logged: Mutex::new(Vec::new()),
            extensions: OnceLock::new(),
        }
    }

    fn on_main_thread(&self) -> bool {
        std::thread::current().id() == self.main_thread
    }

    fn expect_main_thread(&self, call: &str) {
        if !self.on_main_thread() {
            self.thread_violations
                .lock()
                .unwrap()
                .push(format!("{call} called off the main thread"));
        }
    }
}

impl<'a> SharedHandler<'a> for Shared {
    fn initializing(&self, instance: InitializingPluginHandle<'a>) {
        let _ = self.extensions.set(PluginExtensions {
            audio_ports: instance.get_extension(),
            audio_ports_config: instance.get_extension(),
            latency: instance.get_extension(),
            params: instance.get_extension(),
            state: instance.get_extension(),
        });
    }

    fn request_restart(&self) {
        self.restarts_requested.fetch_add(1, Ordering::SeqCst);
    }

    fn request_process(&self) {
        // This host processes continuously while active; nothing to wake.
    }

    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostLogImpl for Shared {
    fn log(&self, severity: LogSeverity, message: &str) {
        eprintln!("[plugin {severity}] {message}");
        if matches!(
            severity,
            LogSeverity::Error
                | LogSeverity::Fatal
                | LogSeverity::HostMisbehaving
                | LogSeverity::PluginMisbehaving
        ) {
            self.errors_logged
                .lock()
                .unwrap()
                .push(format!("{severity}: {message}"));
        }
    }
}

impl HostThreadCheckImpl for Shared {
    fn is_main_thread(&self) -> bool {
        self.on_main_thread()
    }

    fn is_audio_thread(&self) -> bool {
        IS_AUDIO_THREAD.with(Cell::get)
    }
}

impl HostParamsImplShared for Shared {
    fn request_flush(&self) {
        // Parameters are only flushed through process() here, which runs continuously.
    }
}

/// Main-thread-only callbacks. Each checks that it really is called on the main thread.
pub struct MainThread<'a> {
    shared: &'a Shared,
}

impl MainThread<'_> {
    fn shared(&self) -> &Shared {
        self.shared
    }
}

impl<'a> MainThreadHandler<'a> for MainThread<'a> {}

impl HostLatencyImpl for MainThread<'_> {
    fn changed(&self) {
        self.shared().expect_main_thread("latency.changed");
    }
}

impl HostParamsImplMainThread for MainThread<'_> {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.shared().expect_main_thread("params.rescan");
    }

    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {
        self.shared().expect_main_thread("params.clear");
    }
}

impl HostStateImpl for MainThread<'_> {
    fn mark_dirty(&self) {
        self.shared().expect_main_thread("state.mark_dirty");
    }
}

impl HostAudioPortsImpl for MainThread<'_> {
    fn is_rescan_flag_supported(&self, _flag: AudioPortRescanFlags) -> bool {
        false
    }

    fn rescan(&self, _flags: AudioPortRescanFlags) {
        self.shared().expect_main_thread("audio_ports.rescan");
    }
}

/// One audio port as the plugin describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortInfo {
    pub name: String,
    pub channel_count: u32,
    pub is_main: bool,
    pub port_type: Option<String>,
    pub in_place_pair: Option<u32>,
}

/// One entry of the plugin's audio-ports-config list.
#[derive(Debug, Clone, PartialEq)]
pub struct PortConfig {
    pub id: u32,
    pub name: String,
    pub input_channels: Option<u32>,
    pub output_channels: Option<u32>,
}

/// What a run of blocks through the plugin produced.
pub struct RunResult {
    pub frames: u64,
    pub blocks: u64,
    /// Index of the first sample whose output bits differ from the input, if any.
    pub first_mismatch: Option<(usize, u64, f32, f32)>,
    /// Every output sample, by channel (the input is [`sample`]).
    pub output: Vec<Vec<f32>>,
    /// The latency the plugin reported while active, if it has the latency extension.
    pub latency: Option<u32>,
}

/// A parameter's new value at an absolute sample of a run, sent as a CLAP param-value event
/// at its offset inside the block that holds it.
#[derive(Debug, Clone, Copy)]
pub struct ParamChange {
    pub at: u64,
    pub param_id: u32,
    pub value: f64,
}

/// What the host knows of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDescription {
    pub id: u32,
    pub name: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    pub stepped: bool,
    pub bypass: bool,
}

/// The host transport for one run: `None` means a free-running host (no transport at all).
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    pub playing: bool,
    pub tempo_bpm: f64,
}

/// A loaded and instantiated plugin, driven from the thread that created it (the main thread).
pub struct Host {
    // Field order matters: the instance must go before the entry that holds its code.
    pub instance: PluginInstance<TestHost>,
    _entry: PluginEntry,
}

impl Host {
    pub fn load() -> Self {
        let path = bundle_path();
        // SAFETY: loading a plugin runs its initialisation code; this is the plugin under test.
        let entry = unsafe { PluginEntry::load(&path) }
            .unwrap_or_else(|e| panic!("could not load {}: {e}", path.display()));
        let factory = entry
            .get_plugin_factory()
            .expect("Encore.clap has no plugin factory");
        let ids: Vec<String> = factory
            .plugin_descriptors()
            .filter_map(|d| d.id().map(|id| id.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(ids, [PLUGIN_ID.to_str().unwrap()], "plugins in the factory");
        let host_info = HostInfo::new(
            "Encore test host",
            "Encore",
            "https://example.invalid",
            "0.1",
        )
        .unwrap();
        let instance = PluginInstance::<TestHost>::new(
            |_| Shared::new(),
            |shared| MainThread { shared },
            &entry,
            PLUGIN_ID,
            &host_info,
        )
        .expect("the plugin could not be instantiated");
        let mut host = Self {
            instance,
            _entry: entry,
        };
        host.pump_main_thread();
        host
    }

    pub fn shared<R>(&self, f: impl FnOnce(&Shared) -> R) -> R {
        self.instance.access_shared_handler(f)
    }

    pub fn extensions(&self) -> PluginExtensions {
        self.shared(|s| *s.extensions.get().expect("plugin never initialised"))
    }

    /// Runs the plugin's main-thread callback if it asked for one, as a host's event loop does.
    pub fn pump_main_thread(&mut self) {
        let requested = self.shared(|s| s.callback_requested.swap(false, Ordering::SeqCst));
        if requested {
            self.instance.call_on_main_thread_callback();
        }
    }

    pub fn audio_ports(&mut self, is_input: bool) -> Vec<PortInfo> {
        let ports = self
            .extensions()
            .audio_ports
            .expect("the plugin has no audio-ports extension");
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortInfoBuffer::new();
        (0..ports.count(&handle, is_input))
            .map(|i| {
                let info = ports
                    .get(&handle, i, is_input, &mut buffer)
                    .expect("audio port info");
                PortInfo {
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    channel_count: info.channel_count,
                    is_main: info.flags.contains(AudioPortFlags::IS_MAIN),
                    port_type: info.port_type.map(|t| t.0.to_string_lossy().into_owned()),
                    in_place_pair: info.in_place_pair.map(|id| id.get()),
                }
            })
            .collect()
    }

    pub fn port_configs(&mut self) -> Vec<PortConfig> {
        let Some(configs) = self.extensions().audio_ports_config else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortsConfigBuffer::new();
        (0..configs.count(&handle))
            .map(|i| {
                let c = configs.get(&handle, i, &mut buffer).expect("port config");
                PortConfig {
                    id: c.id.get(),
                    name: String::from_utf8_lossy(c.name).into_owned(),
                    input_channels: c.main_input.map(|p| p.channel_count),
                    output_channels: c.main_output.map(|p| p.channel_count),
                }
            })
            .collect()
    }

    /// Selects an audio-ports config (the plugin must be inactive).
    pub fn select_port_config(&mut self, id: u32) {
        let configs = self
            .extensions()
            .audio_ports_config
            .expect("the plugin has no audio-ports-config extension");
        let handle = self.instance.plugin_handle();
        configs
            .select(&handle, ClapId::new(id))
            .unwrap_or_else(|_| panic!("the plugin refused audio-ports config {id}"));
    }

    /// The CLAP id of the parameter named `name`.
    pub fn param_id(&mut self, name: &str) -> u32 {
        let params = self
            .extensions()
            .params
            .expect("the plugin has no params extension");
        let handle = self.instance.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        for i in 0..params.count(&handle) {
            if let Some(info) = params.get_info(&handle, i, &mut buffer)
                && info.name == name.as_bytes()
            {
                return info.id.get();
            }
        }
        panic!("no parameter named {name}")
    }

    /// Parameter (name, default value) pairs in the plugin's order.
    pub fn params(&mut self) -> Vec<(String, f64)> {
        self.param_descriptions()
            .into_iter()
            .map(|param| {
                let value = self.param_value(param.id);
                assert_eq!(value, param.default, "a fresh instance is at its defaults");
                (param.name, value)
            })
            .collect()
    }

    /// Every parameter as the host sees it, in the plugin's order.
    pub fn param_descriptions(&mut self) -> Vec<ParamDescription> {
        let params = self
            .extensions()
            .params
            .expect("the plugin has no params extension");
        let handle = self.instance.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        (0..params.count(&handle))
            .map(|i| {
                let info = params
                    .get_info(&handle, i, &mut buffer)
                    .expect("param info");
                ParamDescription {
                    id: info.id.get(),
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                    stepped: info.flags.contains(ParamInfoFlags::IS_STEPPED),
                    bypass: info.flags.contains(ParamInfoFlags::IS_BYPASS),
                }
            })
            .collect()
    }

    /// The current (plain) value of parameter `id`, as `clap_plugin_params::get_value` gives it.
    pub fn param_value(&mut self, id: u32) -> f64 {
        let params = self
            .extensions()
            .params
            .expect("the plugin has no params extension");
        params
            .get_value(&self.instance.plugin_handle(), ClapId::new(id))
            .expect("param value")
    }

    /// The saved state's bytes, written through `writer_chunk`-byte writes (clap-validator's
    /// buffered variant; `usize::MAX`: one write).
    pub fn save_state_bytes(&mut self, writer_chunk: usize) -> Vec<u8> {
        struct Chunked(Vec<u8>, usize);
        impl std::io::Write for Chunked {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.1);
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let state = self
            .extensions()
            .state
            .expect("the plugin has no state extension");
        let mut writer = Chunked(Vec::new(), writer_chunk);
        state
            .save(&self.instance.plugin_handle(), &mut writer)
            .expect("state save failed");
        self.pump_main_thread();
        writer.0
    }

    /// Loads saved state bytes through reads of at most `reader_chunk` bytes.
    pub fn load_state_bytes(&mut self, bytes: &[u8], reader_chunk: usize) {
        struct Chunked<'a>(&'a [u8], usize);
        impl std::io::Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let state = self
            .extensions()
            .state
            .expect("the plugin has no state extension");
        state
            .load(
                &self.instance.plugin_handle(),
                &mut Chunked(bytes, reader_chunk),
            )
            .expect("the plugin refused the state");
        self.pump_main_thread();
    }

    /// Restores a state in nice-plug's JSON (as [`Self::save_state`] returns it).
    pub fn load_state(&mut self, state: &serde_json::Value) {
        let extension = self
            .extensions()
            .state
            .expect("the plugin has no state extension");
        let json = serde_json::to_vec(state).expect("the state serialises");
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&json);
        extension
            .load(&self.instance.plugin_handle(), &mut bytes.as_slice())
            .expect("the plugin refused the state");
        self.pump_main_thread();
    }

    /// The plugin's saved state, parsed as nice-plug's JSON.
    pub fn save_state(&mut self) -> serde_json::Value {
        let state = self
            .extensions()
            .state
            .expect("the plugin has no state extension");
        let mut bytes = Vec::new();
        state
            .save(&self.instance.plugin_handle(), &mut bytes)
            .expect("state save failed");
        // nice-plug's CLAP state: the JSON's length as a little-endian u64, then the JSON.
        let (length, json) = bytes.split_at(8);
        let length = u64::from_le_bytes(length.try_into().unwrap());
        assert_eq!(length, json.len() as u64, "state length prefix");
        serde_json::from_slice(json).expect("the state is not JSON")
    }

    /// Activates with `config`, streams `block_sizes` through the plugin from an audio thread
    /// (checking the stereo or mono output against the input, bit for bit), stops processing and
    /// deactivates. The main thread keeps serving main-thread callbacks meanwhile.
    pub fn run(
        &mut self,
        channels: usize,
        sample_rate: f64,
        max_block: u32,
        block_sizes: &[u32],
        timeline: Option<Timeline>,
    ) -> RunResult {
        self.run_with_changes(channels, sample_rate, max_block, block_sizes, timeline, &[])
    }

    /// Activates at `sample_rate` with blocks up to `max_block`, resets and deactivates, and
    /// says how long each of the three calls took (host-thread calls: they must never wait).
    pub fn timed_activation(&mut self, sample_rate: f64, max_block: u32) -> [Duration; 3] {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block,
        };
        let started = std::time::Instant::now();
        let mut processor = self
            .instance
            .activate(|_, _| (), config)
            .expect("the plugin refused to activate");
        let activate = started.elapsed();
        self.pump_main_thread();
        let started = std::time::Instant::now();
        processor.reset();
        let reset = started.elapsed();
        let started = std::time::Instant::now();
        self.instance.deactivate(processor);
        let deactivate = started.elapsed();
        self.pump_main_thread();
        [activate, reset, deactivate]
    }

    /// [`Self::run`], sending `changes` (sorted by sample) as param-value events.
    pub fn run_with_changes(
        &mut self,
        channels: usize,
        sample_rate: f64,
        max_block: u32,
        block_sizes: &[u32],
        timeline: Option<Timeline>,
        changes: &[ParamChange],
    ) -> RunResult {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block,
        };
        let processor = self
            .instance
            .activate(|_, _| (), config)
            .expect("the plugin refused to activate");
        self.pump_main_thread();
        let latency = self
            .extensions()
            .latency
            .map(|l| l.get(&self.instance.plugin_handle()));

        let (processor, mut result) = std::thread::scope(|scope| {
            let audio = scope.spawn(|| {
                IS_AUDIO_THREAD.with(|f| f.set(true));
                stream_blocks(
                    processor,
                    channels,
                    sample_rate,
                    max_block,
                    block_sizes,
                    timeline,
                    changes,
                )
            });
            while !audio.is_finished() {
                self.pump_main_thread();
                std::thread::sleep(Duration::from_millis(1));
            }
            audio.join().expect("the audio thread panicked")
        });
        self.pump_main_thread();
        self.instance.deactivate(processor);
        self.pump_main_thread();
        result.latency = latency;
        result
    }
}

/// A test signal that exercises the bits: signs, negative zero, subnormals, large values.
pub fn sample(channel: usize, index: u64) -> f32 {
    match index % 7 {
        0 => -0.0,
        1 => f32::from_bits(1 + (index as u32 % 1000)), // subnormal
        2 => 1.0e30,
        _ => {
            let phase = index as f32 * 0.013 + channel as f32 * 1.7;
            phase.sin() * if channel == 0 { 0.9 } else { -0.6 }
        }
    }
}

fn stream_blocks(
    processor: StoppedPluginAudioProcessor<TestHost>,
    channels: usize,
    sample_rate: f64,
    max_block: u32,
    block_sizes: &[u32],
    timeline: Option<Timeline>,
    changes: &[ParamChange],
) -> (StoppedPluginAudioProcessor<TestHost>, RunResult) {
    let max = max_block as usize;
    let mut inputs = vec![vec![0.0f32; max]; channels];
    let mut outputs = vec![vec![0.0f32; max]; channels];
    let mut input_ports = AudioPorts::with_capacity(channels, 1);
    let mut output_ports = AudioPorts::with_capacity(channels, 1);
    let mut output_events = EventBuffer::new();
    let mut input_events = EventBuffer::new();

    let mut processor = processor
        .start_processing()
        .expect("start_processing failed");
    let mut position = 0u64;
    let mut first_mismatch = None;
    let mut output = vec![Vec::new(); channels];
    for &n in block_sizes {
        let n = n as usize;
        assert!(n >= 1 && n <= max, "block of {n} frames with max {max}");
        for (c, input) in inputs.iter_mut().enumerate() {
            for (i, s) in input[..n].iter_mut().enumerate() {
                *s = sample(c, position + i as u64);
            }
        }
        for output in &mut outputs {
            output[..n].fill(f32::NAN);
        }
        let transport = timeline.map(|t| transport_at(t, position, sample_rate));
        input_events.clear();
        let block = position..position + n as u64;
        for change in changes.iter().filter(|c| block.contains(&c.at)) {
            input_events.push(&ParamValueEvent::new(
                (change.at - position) as u32,
                ClapId::new(change.param_id),
                Pckn::match_all(),
                change.value,
            ));
        }
        {
            let input_audio = input_ports.with_input_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    inputs
                        .iter_mut()
                        .map(|b| InputChannel::variable(&mut b[..n])),
                ),
            }]);
            let mut output_audio = output_ports.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    outputs.iter_mut().map(|b| &mut b[..n]),
                ),
            }]);
            output_events.clear();
            processor
                .process(
                    &input_audio,
                    &mut output_audio,
                    &InputEvents::from_buffer(&input_events),
                    &mut OutputEvents::from_buffer(&mut output_events),
                    Some(position),
                    transport.as_ref(),
                )
                .expect("process failed");
        }
        for (all, block) in output.iter_mut().zip(&outputs) {
            all.extend_from_slice(&block[..n]);
        }
        if first_mismatch.is_none() {
            'check: for (c, (input, output)) in inputs.iter().zip(&outputs).enumerate() {
                for i in 0..n {
                    if input[i].to_bits() != output[i].to_bits() {
                        first_mismatch = Some((c, position + i as u64, input[i], output[i]));
                        break 'check;
                    }
                }
            }
        }
        position += n as u64;
    }
    let result = RunResult {
        frames: position,
        blocks: block_sizes.len() as u64,
        first_mismatch,
        output,
        latency: None,
    };
    (processor.stop_processing(), result)
}

fn transport_at(timeline: Timeline, position: u64, sample_rate: f64) -> TransportEvent {
    let seconds = position as f64 / sample_rate;
    let beats = seconds * timeline.tempo_bpm / 60.0;
    let mut flags = TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE
        | TransportFlags::HAS_SECONDS_TIMELINE
        | TransportFlags::HAS_TIME_SIGNATURE;
    if timeline.playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(beats),
        song_pos_seconds: SecondsTime::from_float(seconds),
        tempo: timeline.tempo_bpm,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_int(0),
        loop_end_beats: BeatTime::from_int(0),
        loop_start_seconds: SecondsTime::from_int(0),
        loop_end_seconds: SecondsTime::from_int(0),
        bar_start: BeatTime::from_float((beats / 4.0).floor() * 4.0),
        bar_number: (beats / 4.0).floor() as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}
