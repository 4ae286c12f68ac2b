//! Encore as a standalone app (JACK, ALSA or a dummy backend): used to render the editor without
//! a host.

fn main() {
    nice_plug::nice_export_standalone::<encore::Encore>();
}
