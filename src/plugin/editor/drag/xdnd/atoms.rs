//! The atoms a drag source uses, interned once per drag (one round trip for all of them).

use x11rb::connection::Connection;
use x11rb::errors::ReplyError;
use x11rb::protocol::xproto::{Atom, ConnectionExt as _};

macro_rules! atoms {
    ($($name:ident),* $(,)?) => {
        #[allow(non_snake_case)]
        #[derive(Debug, Clone, Copy)]
        pub struct Atoms { $(pub $name: Atom,)* }

        impl Atoms {
            pub fn intern(conn: &impl Connection) -> Result<Self, ReplyError> {
                // Send every request before reading the first reply.
                $(#[allow(non_snake_case)] let $name = conn.intern_atom(false, stringify!($name).as_bytes())?;)*
                Ok(Self { $($name: $name.reply()?.atom,)* })
            }
        }
    };
}

atoms!(
    XdndAware,
    XdndProxy,
    XdndSelection,
    XdndEnter,
    XdndPosition,
    XdndStatus,
    XdndLeave,
    XdndDrop,
    XdndFinished,
    XdndActionCopy,
    TARGETS,
    UTF8_STRING,
    ENCORE_TIMESTAMP,
);

/// The MIME types offered, best first. Three or fewer fit in `XdndEnter` itself.
pub struct Offered {
    pub uri_list: Atom,
    pub plain_utf8: Atom,
    pub plain: Atom,
}

impl Offered {
    pub fn intern(conn: &impl Connection) -> Result<Self, ReplyError> {
        let uri_list = conn.intern_atom(false, b"text/uri-list")?;
        let plain_utf8 = conn.intern_atom(false, b"text/plain;charset=utf-8")?;
        let plain = conn.intern_atom(false, b"text/plain")?;
        Ok(Self {
            uri_list: uri_list.reply()?.atom,
            plain_utf8: plain_utf8.reply()?.atom,
            plain: plain.reply()?.atom,
        })
    }

    pub fn all(&self) -> [Atom; 3] {
        [self.uri_list, self.plain_utf8, self.plain]
    }
}
