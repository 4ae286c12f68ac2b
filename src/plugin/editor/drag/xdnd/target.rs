//! Which window a drop would land on: the outermost XDND-aware window under the pointer, never
//! the editor itself.

use x11rb::NONE;
use x11rb::connection::Connection;
use x11rb::errors::ReplyError;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, Window};

use super::atoms::Atoms;

/// The newest XDND version spoken here, and the oldest still accepted (XdndFinished's fields
/// and the drop timestamp are version 2 and later; 3 is the oldest GTK and Qt ever sent).
pub const VERSION: u32 = 5;
const OLDEST_VERSION: u32 = 3;
/// Windows nest only a few deep; this bounds the walk if a server misbehaves.
const DEEPEST: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The window the messages are about.
    pub window: Window,
    /// Where they are sent: the window itself, or its `XdndProxy`.
    pub deliver_to: Window,
    pub version: u32,
}

/// The pointer's place on the screen and the windows under it, outermost first.
pub struct Pointer {
    pub root_x: i16,
    pub root_y: i16,
    pub primary_down: bool,
    pub path: Vec<Window>,
}

pub fn query_pointer(conn: &impl Connection, root: Window) -> Result<Pointer, ReplyError> {
    let top = conn.query_pointer(root)?.reply()?;
    let primary_down =
        u16::from(top.mask) & u16::from(x11rb::protocol::xproto::KeyButMask::BUTTON1) != 0;
    let mut path = Vec::new();
    let mut child = top.child;
    while child != NONE && path.len() < DEEPEST {
        path.push(child);
        // A window closed meanwhile ends the walk; the next poll sees the new windows.
        child = match conn.query_pointer(child)?.reply() {
            Ok(reply) => reply.child,
            Err(_) => break,
        };
    }
    Ok(Pointer {
        root_x: top.root_x,
        root_y: top.root_y,
        primary_down,
        path,
    })
}

/// The drop target on `path`, if any. Over the editor (or a window inside it) there is none:
/// a take dropped on its own editor would do nothing.
pub fn find(
    conn: &impl Connection,
    atoms: &Atoms,
    path: &[Window],
    own: &[Window],
) -> Result<Option<Target>, ReplyError> {
    if path.iter().any(|w| own.contains(w)) {
        return Ok(None);
    }
    for &window in path {
        let Some(version) = aware_version(conn, atoms, window)? else {
            continue;
        };
        if version < OLDEST_VERSION {
            return Ok(None);
        }
        let deliver_to = proxy(conn, atoms, window)?.unwrap_or(window);
        return Ok(Some(Target {
            window,
            deliver_to,
            version: version.min(VERSION),
        }));
    }
    Ok(None)
}

fn aware_version(
    conn: &impl Connection,
    atoms: &Atoms,
    window: Window,
) -> Result<Option<u32>, ReplyError> {
    // A window closed meanwhile is no target.
    let Ok(reply) = conn
        .get_property(false, window, atoms.XdndAware, AtomEnum::ATOM, 0, 1)?
        .reply()
    else {
        return Ok(None);
    };
    Ok(reply.value32().and_then(|mut v| v.next()))
}

/// A window's `XdndProxy`, honoured only when the proxy names itself as the spec asks (a
/// stale property left by a crashed program must not swallow the drop).
fn proxy(
    conn: &impl Connection,
    atoms: &Atoms,
    window: Window,
) -> Result<Option<Window>, ReplyError> {
    let read = |w: Window| -> Result<Option<Window>, ReplyError> {
        let reply = conn
            .get_property(false, w, atoms.XdndProxy, AtomEnum::WINDOW, 0, 1)?
            .reply()?;
        Ok(reply.value32().and_then(|mut v| v.next()))
    };
    let Some(proxy) = read(window)? else {
        return Ok(None);
    };
    // The proxy may be gone: its property read then fails, and the window itself is used.
    match read(proxy) {
        Ok(Some(own)) if own == proxy => Ok(Some(proxy)),
        _ => Ok(None),
    }
}
