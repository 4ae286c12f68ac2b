//! What the standalone app asks the editor to do once it opens: the same commands the user's
//! clicks would send (load a model, take the prompt from a file, press Continue). Inside a DAW
//! nothing sets it and it does nothing.

use std::path::PathBuf;

use parking_lot::Mutex;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartupRequest {
    /// Load this model folder, as the Load button does.
    pub model_dir: Option<PathBuf>,
    /// Take the prompt from this audio file (prompt source "Audio file").
    pub prompt_file: Option<PathBuf>,
    /// Press Continue as soon as ONNX Runtime and the model are ready.
    pub continue_when_ready: bool,
}

static PENDING: Mutex<Option<StartupRequest>> = Mutex::new(None);

/// Called by the standalone app before it starts the plugin.
pub fn request_on_startup(request: StartupRequest) {
    *PENDING.lock() = Some(request);
}

/// The request, once: the first editor that opens carries it out.
pub(super) fn take_pending() -> Option<StartupRequest> {
    PENDING.lock().take()
}
