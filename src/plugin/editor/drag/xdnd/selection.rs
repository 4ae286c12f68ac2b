//! Answering the drop target's `ConvertSelection` of `XdndSelection`: the take's file as a
//! `text/uri-list`, or its path as plain text.

use std::path::Path;

use x11rb::NONE;
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, EventMask, PropMode, SELECTION_NOTIFY_EVENT,
    SelectionNotifyEvent, SelectionRequestEvent,
};
use x11rb::wrapper::ConnectionExt as _;

use super::super::uri::uri_list;
use super::atoms::{Atoms, Offered};

/// The data for each offered type, made once per drag.
pub struct Payload {
    uri_list: Vec<u8>,
    path: Vec<u8>,
}

impl Payload {
    pub fn new(file: &Path) -> Self {
        Self {
            uri_list: uri_list(file).into_bytes(),
            path: file.to_string_lossy().into_owned().into_bytes(),
        }
    }
}

/// Writes the requested type into the requestor's property (or refuses with property None)
/// and tells it so. Returns whether data was handed over.
pub fn answer(
    conn: &impl Connection,
    atoms: &Atoms,
    offered: &Offered,
    payload: &Payload,
    request: &SelectionRequestEvent,
) -> Result<bool, ConnectionError> {
    // Obsolete clients leave the property None and mean the target's name.
    let property = if request.property == NONE {
        request.target
    } else {
        request.property
    };
    let target = request.target;
    let served = if request.selection != atoms.XdndSelection {
        false
    } else if target == atoms.TARGETS {
        let mut types = vec![atoms.TARGETS];
        types.extend(offered.all());
        types.push(atoms.UTF8_STRING);
        conn.change_property32(
            PropMode::REPLACE,
            request.requestor,
            property,
            AtomEnum::ATOM,
            &types,
        )?;
        true
    } else if target == offered.uri_list {
        conn.change_property8(
            PropMode::REPLACE,
            request.requestor,
            property,
            target,
            &payload.uri_list,
        )?;
        true
    } else if target == offered.plain_utf8 || target == offered.plain || target == atoms.UTF8_STRING
    {
        conn.change_property8(
            PropMode::REPLACE,
            request.requestor,
            property,
            target,
            &payload.path,
        )?;
        true
    } else {
        false
    };
    let notify = SelectionNotifyEvent {
        response_type: SELECTION_NOTIFY_EVENT,
        sequence: 0,
        time: request.time,
        requestor: request.requestor,
        selection: request.selection,
        target,
        property: if served { property } else { NONE },
    };
    conn.send_event(false, request.requestor, EventMask::NO_EVENT, notify)?;
    conn.flush()?;
    Ok(served && target != atoms.TARGETS)
}
