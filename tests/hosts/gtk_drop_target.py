"""A drop target written with GTK 3 (Debian's python3-gi), not by Encore: a window that takes
`text/uri-list` (or, with --refuse, only a type nobody offers) and prints what happens to it,
one line per event, for tests/hosts/test_editor_drag.py.

Run with the system Python (`/usr/bin/python3 gtk_drop_target.py --title T --x X --y Y`).
Lines: `ready <window id>`, `motion`, `leave`, `drop`, `uris <uri> ...`, `text <text>`."""

import argparse
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402


def say(*words):
    print(*words, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--title", default="drop target")
    parser.add_argument("--x", type=int, default=0)
    parser.add_argument("--y", type=int, default=0)
    parser.add_argument("--width", type=int, default=300)
    parser.add_argument("--height", type=int, default=200)
    parser.add_argument("--refuse", action="store_true", help="accept no type Encore offers")
    args = parser.parse_args()

    window = Gtk.Window(title=args.title)
    window.set_default_size(args.width, args.height)
    window.move(args.x, args.y)
    label = Gtk.Label(label="refuses drops" if args.refuse else "drop a take here")
    window.add(label)
    mime = "application/x-nothing-offers-this" if args.refuse else "text/uri-list"
    # A refusing window handles drops itself (no DestDefaults.DROP), so a source that drops
    # anyway is seen ("drop") and told no.
    defaults = Gtk.DestDefaults.ALL
    if args.refuse:
        defaults = Gtk.DestDefaults.MOTION | Gtk.DestDefaults.HIGHLIGHT
    window.drag_dest_set(defaults, [Gtk.TargetEntry.new(mime, 0, 0)], Gdk.DragAction.COPY)
    # A refusing target still reports the pointer (GTK only signals motion over a window
    # that could take the drag unless it tracks motion).
    window.drag_dest_set_track_motion(args.refuse)
    seen_motion = []

    def on_motion(_widget, _context, _x, _y, _time):
        if not seen_motion:
            seen_motion.append(True)
            say("motion")
        return False

    def on_leave(_widget, _context, _time):
        seen_motion.clear()
        say("leave")

    def on_drop(_widget, context, _x, _y, time):
        say("drop")
        if args.refuse:
            Gtk.drag_finish(context, False, False, time)
            return True
        return False

    def on_data(_widget, _context, _x, _y, data, _info, _time):
        uris = data.get_uris()
        if uris:
            say("uris", *uris)
        else:
            say("text", data.get_text())

    window.connect("drag-motion", on_motion)
    window.connect("drag-leave", on_leave)
    window.connect("drag-drop", on_drop)
    window.connect("drag-data-received", on_data)
    window.connect("destroy", Gtk.main_quit)
    window.show_all()

    def announce():
        say("ready", window.get_window().get_xid())
        return False

    GLib.timeout_add(200, announce)
    Gtk.main()


if __name__ == "__main__":
    sys.exit(main())
