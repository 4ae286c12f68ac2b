//! Artist, genres and lyrics: what the top prior is told about the song. The pickers list the
//! loaded model's own vocabulary, so a name the model does not know cannot be chosen.

use egui::{TextEdit, Ui};

use super::super::session::ModelStatus;
use super::picker::{artist_picker, genres_picker};
use super::{EditorApp, style};

const PICKER_WIDTH: f32 = 300.0;
const LYRICS_ROWS: usize = 3;
/// Jukebox's own limit, used until a model says otherwise.
const DEFAULT_MAX_GENRES: usize = 5;

#[derive(Debug, Default)]
pub struct ConditioningUi {
    artist_filter: String,
    genre_filter: String,
}

impl EditorApp {
    pub(super) fn conditioning_section(&mut self, ui: &mut Ui) {
        let ModelStatus::Ready(info) = &self.view.model else {
            ui.weak("Artist, genre and lyrics can be chosen once a model is loaded.");
            return;
        };
        let max_genres = if info.max_genres == 0 {
            DEFAULT_MAX_GENRES
        } else {
            info.max_genres
        };
        egui::Grid::new("conditioning")
            .num_columns(2)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                style::field_label(
                    ui,
                    "Artist",
                    "The style to continue in. Search by any part of the name.",
                );
                artist_picker(
                    ui,
                    &mut self.conditioning.artist_filter,
                    &info.artists,
                    &mut self.settings.artist,
                    PICKER_WIDTH,
                );
                ui.end_row();
                style::field_label(
                    ui,
                    "Genres",
                    "One or several genres, mixed by the model. Search by any part of the name.",
                );
                genres_picker(
                    ui,
                    &mut self.conditioning.genre_filter,
                    &info.genres,
                    &mut self.settings.genres,
                    max_genres,
                    PICKER_WIDTH,
                );
                ui.end_row();
            });
        ui.label("Lyrics");
        ui.add_enabled_ui(info.has_lyrics, |ui| {
            ui.add(
                TextEdit::multiline(&mut self.settings.lyrics)
                    .hint_text("Words for the continuation (optional)")
                    .desired_rows(LYRICS_ROWS)
                    .desired_width(f32::INFINITY),
            );
        });
        if !info.has_lyrics {
            ui.weak(format!(
                "{} is not conditioned on lyrics: they are not used.",
                info.name
            ));
        }
    }
}
