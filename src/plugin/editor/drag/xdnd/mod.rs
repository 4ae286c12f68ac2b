//! The source side of XDND version 5 (freedesktop.org's drag-and-drop protocol for X11).
//!
//! A drag runs on its own thread with its own connection to the X server, so baseview's event
//! loop (and the host's) are never touched. Baseview's window holds the pointer through the
//! button press that started the drag (X11's automatic grab, which another connection cannot
//! take over), so this side follows the pointer by polling `QueryPointer` and sees the release
//! as the button going up. The keyboard is grabbed for the drag's length, so Escape cancels it
//! wherever the pointer is.
//!
//! One drag: own `XdndSelection` with a hidden window; send `XdndEnter`/`XdndPosition` to the
//! XDND-aware window under the pointer and `XdndLeave` when it moves off; on release, drop
//! (`XdndDrop`) if the last `XdndStatus` accepted, else leave; serve the selection request
//! (`text/uri-list`, plain text) until `XdndFinished`.

mod atoms;
mod selection;
mod target;

use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    ClientMessageEvent, ConnectionExt as _, CreateWindowAux, EventMask, GrabMode, GrabStatus,
    Keycode, PropMode, Timestamp, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::{COPY_DEPTH_FROM_PARENT, COPY_FROM_PARENT, CURRENT_TIME, NONE};

use super::{DragError, DragOutcome, DragShared, DragStatus};
use atoms::{Atoms, Offered};
use selection::Payload;
use target::Target;

/// How often the pointer is looked at: faster than a screen refresh, a few round trips each.
const POLL: Duration = Duration::from_millis(8);
/// How long a target may take to answer the last position after the release.
const STATUS_WAIT: Duration = Duration::from_secs(1);
/// How long a target may take to read the file's name and say it is done.
const FINISH_WAIT: Duration = Duration::from_secs(10);
/// How long the hidden window outlives the drag, for the target to read the last message.
const LINGER: Duration = Duration::from_millis(250);
const ESCAPE_KEYSYM: u32 = 0xff1b;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs a drag of `file` out of the X11 window `editor` on a new thread.
pub fn spawn(editor: Window, file: &Path, shared: Arc<DragShared>) -> Result<(), DragError> {
    let payload = Payload::new(file);
    thread::Builder::new()
        .name("encore-drag".into())
        .spawn(move || {
            let outcome = Session::open(editor, payload)
                .and_then(|mut session| {
                    let outcome = session.run(&shared);
                    session.close();
                    outcome
                })
                .unwrap_or_else(|e| DragOutcome::Failed(e.to_string()));
            shared.set(DragStatus::Ended(outcome));
        })
        .map(drop)
        .map_err(|e| DragError::Start(e.to_string()))
}

struct Session {
    conn: RustConnection,
    root: Window,
    /// Hidden window that owns the selection and receives the target's messages.
    window: Window,
    /// Windows that are never a target: the editor and the hidden window.
    own: [Window; 2],
    atoms: Atoms,
    offered: Offered,
    payload: Payload,
    /// When the selection was taken; stamps every message.
    time: Timestamp,
    escape: Vec<Keycode>,
    keyboard_grabbed: bool,
    target: Option<Target>,
    /// What the target said about the last position.
    accepting: bool,
    /// A position was sent and its status has not come (XDND sends one at a time).
    awaiting_status: bool,
    last_position: Option<(i16, i16)>,
    /// `XdndFinished` after a drop: whether the target took the file.
    finished: Option<bool>,
}

impl Session {
    fn open(editor: Window, payload: Payload) -> Result<Self, Error> {
        let (conn, screen) = x11rb::connect(None).map_err(|e| format!("no X display: {e}"))?;
        let root = conn.setup().roots[screen].root;
        let atoms = Atoms::intern(&conn)?;
        let offered = Offered::intern(&conn)?;
        let window = conn.generate_id()?;
        conn.create_window(
            COPY_DEPTH_FROM_PARENT,
            window,
            root,
            -10,
            -10,
            1,
            1,
            0,
            WindowClass::INPUT_ONLY,
            COPY_FROM_PARENT,
            &CreateWindowAux::new()
                .override_redirect(1)
                .event_mask(EventMask::PROPERTY_CHANGE),
        )?;
        let time = server_time(&conn, window, &atoms)?;
        conn.set_selection_owner(window, atoms.XdndSelection, time)?;
        if conn
            .get_selection_owner(atoms.XdndSelection)?
            .reply()?
            .owner
            != window
        {
            return Err("another program holds the drag selection".into());
        }
        let escape = escape_keycodes(&conn)?;
        let grab = conn
            .grab_keyboard(false, root, time, GrabMode::ASYNC, GrabMode::ASYNC)?
            .reply()?;
        Ok(Self {
            conn,
            root,
            window,
            own: [editor, window],
            atoms,
            offered,
            payload,
            time,
            escape,
            // Without the grab (another program holds the keyboard), Escape is polled.
            keyboard_grabbed: grab.status == GrabStatus::SUCCESS,
            target: None,
            accepting: false,
            awaiting_status: false,
            last_position: None,
            finished: None,
        })
    }

    fn run(&mut self, shared: &DragShared) -> Result<DragOutcome, Error> {
        loop {
            if self.handle_events()? || self.escape_held()? || shared.cancelled() {
                self.leave()?;
                return Ok(DragOutcome::Cancelled);
            }
            let pointer = target::query_pointer(&self.conn, self.root)?;
            let target = target::find(&self.conn, &self.atoms, &pointer.path, &self.own)?;
            self.follow(target, (pointer.root_x, pointer.root_y))?;
            if !pointer.primary_down {
                return self.release();
            }
            shared.set(DragStatus::Dragging {
                accepting: self.target.is_some() && self.accepting,
            });
            thread::sleep(POLL);
        }
    }

    /// Reads every waiting event. Returns true when Escape was pressed.
    fn handle_events(&mut self) -> Result<bool, Error> {
        let mut escape = false;
        while let Some(event) = self.conn.poll_for_event()? {
            match event {
                Event::ClientMessage(message) => self.on_message(&message),
                Event::SelectionRequest(request) => {
                    selection::answer(
                        &self.conn,
                        &self.atoms,
                        &self.offered,
                        &self.payload,
                        &request,
                    )?;
                }
                Event::KeyPress(key) if self.escape.contains(&key.detail) => escape = true,
                _ => {}
            }
        }
        Ok(escape)
    }

    fn on_message(&mut self, message: &ClientMessageEvent) {
        let data = message.data.as_data32();
        let from_target = self.target.is_some_and(|t| t.window == data[0]);
        if !from_target {
            return;
        }
        if message.type_ == self.atoms.XdndStatus {
            self.awaiting_status = false;
            // Accepting without an action is not accepting.
            self.accepting = data[1] & 1 != 0 && data[4] != NONE;
        } else if message.type_ == self.atoms.XdndFinished {
            let version = self.target.map_or(target::VERSION, |t| t.version);
            // Before version 5 a finish carried no verdict: it meant done.
            self.finished = Some(version < 5 || data[1] & 1 != 0);
        }
    }

    /// Escape, seen without the keyboard grab: is it down right now?
    fn escape_held(&self) -> Result<bool, Error> {
        if self.keyboard_grabbed || self.escape.is_empty() {
            return Ok(false);
        }
        let keys = self.conn.query_keymap()?.reply()?.keys;
        Ok(self
            .escape
            .iter()
            .any(|&k| keys[usize::from(k) / 8] & (1 << (k % 8)) != 0))
    }

    /// Enters, leaves and tells the target where the pointer is.
    fn follow(&mut self, target: Option<Target>, at: (i16, i16)) -> Result<(), Error> {
        if target.map(|t| t.window) != self.target.map(|t| t.window) {
            self.leave()?;
            if let Some(new) = target {
                let [a, b, c] = self.offered.all();
                self.send(
                    new,
                    self.atoms.XdndEnter,
                    [self.window, new.version << 24, a, b, c],
                )?;
                self.target = Some(new);
            }
        }
        let Some(current) = self.target else {
            return Ok(());
        };
        if !self.awaiting_status && self.last_position != Some(at) {
            let packed = (u32::from(at.0 as u16) << 16) | u32::from(at.1 as u16);
            let data = [self.window, 0, packed, self.time, self.atoms.XdndActionCopy];
            self.send(current, self.atoms.XdndPosition, data)?;
            self.awaiting_status = true;
            self.last_position = Some(at);
        }
        Ok(())
    }

    fn leave(&mut self) -> Result<(), Error> {
        if let Some(old) = self.target.take() {
            self.send(old, self.atoms.XdndLeave, [self.window, 0, 0, 0, 0])?;
        }
        self.accepting = false;
        self.awaiting_status = false;
        self.last_position = None;
        Ok(())
    }

    /// The button went up: drop where the target accepted, else leave.
    fn release(&mut self) -> Result<DragOutcome, Error> {
        let deadline = Instant::now() + STATUS_WAIT;
        while self.awaiting_status && Instant::now() < deadline {
            self.handle_events()?;
            thread::sleep(Duration::from_millis(2));
        }
        let Some(target) = self.target else {
            return Ok(DragOutcome::NoTarget);
        };
        if !self.accepting || self.awaiting_status {
            self.leave()?;
            return Ok(DragOutcome::Refused);
        }
        self.send(
            target,
            self.atoms.XdndDrop,
            [self.window, 0, self.time, 0, 0],
        )?;
        let deadline = Instant::now() + FINISH_WAIT;
        while self.finished.is_none() && Instant::now() < deadline {
            self.handle_events()?;
            thread::sleep(Duration::from_millis(2));
        }
        self.target = None;
        Ok(match self.finished {
            Some(true) => DragOutcome::Dropped,
            Some(false) => DragOutcome::Refused,
            None => DragOutcome::Failed("the drop target never said it was done".into()),
        })
    }

    fn send(&self, target: Target, kind: u32, data: [u32; 5]) -> Result<(), Error> {
        let message = ClientMessageEvent::new(32, target.window, kind, data);
        self.conn
            .send_event(false, target.deliver_to, EventMask::NO_EVENT, message)?;
        self.conn.flush()?;
        Ok(())
    }

    /// Gives back the keyboard and the selection; the hidden window goes with the connection.
    fn close(self) {
        // GTK 3 loses an `XdndLeave` whose source window is already gone (seen under Xvfb:
        // the target never hears the drag ended): the window stays a moment.
        thread::sleep(LINGER);
        if self.keyboard_grabbed {
            let _ = self.conn.ungrab_keyboard(CURRENT_TIME);
        }
        let _ = self
            .conn
            .set_selection_owner(NONE, self.atoms.XdndSelection, self.time);
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
    }
}

/// The server's time now: the stamp of an empty property change on our own window (a
/// selection taken with `CurrentTime` could be refused by careful targets).
fn server_time(conn: &RustConnection, window: Window, atoms: &Atoms) -> Result<Timestamp, Error> {
    conn.change_property8(
        PropMode::APPEND,
        window,
        atoms.ENCORE_TIMESTAMP,
        x11rb::protocol::xproto::AtomEnum::STRING,
        &[],
    )?;
    conn.flush()?;
    loop {
        if let Event::PropertyNotify(notify) = conn.wait_for_event()?
            && notify.window == window
        {
            return Ok(notify.time);
        }
    }
}

/// The keys that type Escape on this keyboard.
fn escape_keycodes(conn: &RustConnection) -> Result<Vec<Keycode>, Error> {
    let setup = conn.setup();
    let (first, last) = (setup.min_keycode, setup.max_keycode);
    let map = conn
        .get_keyboard_mapping(first, last - first + 1)?
        .reply()?;
    let per_key = usize::from(map.keysyms_per_keycode).max(1);
    Ok(map
        .keysyms
        .chunks(per_key)
        .enumerate()
        .filter(|(_, syms)| syms.contains(&ESCAPE_KEYSYM))
        .filter_map(|(i, _)| u8::try_from(i).ok().map(|i| first + i))
        .collect())
}
