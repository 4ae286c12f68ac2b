//! Searchable pickers for the model's artists and genres: a button that opens a popup with a
//! search box above the matching names. The real Jukebox knows thousands of artists, so only
//! the first matches are listed and the search narrows them.

use egui::{Popup, PopupCloseBehavior, Response, ScrollArea, TextEdit, Ui};

/// Most names listed at once (typing narrows the rest).
const MAX_LISTED: usize = 200;
const POPUP_LIST_HEIGHT: f32 = 220.0;
/// What an empty artist means to the engine.
pub const UNKNOWN_ARTIST: &str = "(unknown artist)";

/// The names containing every word of `filter`, case-insensitively, in the model's order.
pub fn matching<'a>(names: &'a [String], filter: &str) -> impl Iterator<Item = &'a String> {
    let words: Vec<String> = filter.split_whitespace().map(str::to_lowercase).collect();
    names.iter().filter(move |name| {
        let name = name.to_lowercase();
        words.iter().all(|word| name.contains(word.as_str()))
    })
}

/// One artist, or none (the unknown artist). Returns whether `selected` changed.
pub fn artist_picker(
    ui: &mut Ui,
    filter: &mut String,
    artists: &[String],
    selected: &mut String,
    width: f32,
) -> bool {
    let shown = if selected.is_empty() {
        UNKNOWN_ARTIST
    } else {
        selected.as_str()
    };
    let mut changed = false;
    let button = picker_button(ui, shown, width);
    picker_popup(&button, width, filter, artists.len(), None, |ui, filter| {
        if filter.trim().is_empty()
            && ui
                .selectable_label(selected.is_empty(), UNKNOWN_ARTIST)
                .clicked()
        {
            selected.clear();
            changed = true;
            ui.close();
        }
        let (listed, more) = list_matches(artists, filter);
        for name in listed {
            if ui.selectable_label(*selected == *name, name).clicked() {
                selected.clone_from(name);
                changed = true;
                ui.close();
            }
        }
        more_note(ui, more);
    });
    changed
}

/// Up to `max` genres. Returns whether `selected` changed.
pub fn genres_picker(
    ui: &mut Ui,
    filter: &mut String,
    genres: &[String],
    selected: &mut Vec<String>,
    max: usize,
    width: f32,
) -> bool {
    let shown = if selected.is_empty() {
        "(no genre)".to_string()
    } else {
        selected.join(", ")
    };
    let mut changed = false;
    let chosen = format!("{} of at most {max} chosen", selected.len());
    let button = picker_button(ui, &shown, width);
    picker_popup(
        &button,
        width,
        filter,
        genres.len(),
        Some(chosen),
        |ui, filter| {
            let full = selected.len() >= max;
            let (listed, more) = list_matches(genres, filter);
            for name in listed {
                let mut on = selected.contains(name);
                let enabled = on || !full;
                if ui
                    .add_enabled(enabled, egui::Checkbox::new(&mut on, name.as_str()))
                    .changed()
                {
                    if on {
                        selected.push(name.clone());
                    } else {
                        selected.retain(|g| g != name);
                    }
                    changed = true;
                }
            }
            more_note(ui, more);
        },
    );
    changed
}

/// A picker's button, showing `shown`, `width` wide.
fn picker_button(ui: &mut Ui, shown: &str, width: f32) -> Response {
    ui.add_sized([width, 20.0], egui::Button::new(shown).truncate())
}

/// The popup under a picker's `button`: the search box over `total` names, the `note` if any,
/// then `list` (given the search text) in a scroll area.
fn picker_popup(
    button: &Response,
    width: f32,
    filter: &mut String,
    total: usize,
    note: Option<String>,
    list: impl FnOnce(&mut Ui, &str),
) {
    Popup::menu(button)
        .close_behavior(PopupCloseBehavior::CloseOnClickOutside)
        .width(width.max(240.0))
        .show(|ui| {
            search_box(ui, filter, total);
            if let Some(note) = note {
                ui.weak(note);
            }
            ScrollArea::vertical()
                .max_height(POPUP_LIST_HEIGHT)
                .show(ui, |ui| list(ui, filter));
        });
}

fn search_box(ui: &mut Ui, filter: &mut String, total: usize) {
    let response = ui.add(
        TextEdit::singleline(filter)
            .hint_text(format!("Search {total} names…"))
            .desired_width(f32::INFINITY),
    );
    // Typing should go straight to the search box when the popup opens.
    if !response.has_focus() && !ui.memory(|m| m.focused().is_some()) {
        response.request_focus();
    }
}

/// The first [`MAX_LISTED`] matches and how many more there are.
fn list_matches<'a>(names: &'a [String], filter: &str) -> (Vec<&'a String>, usize) {
    let mut all = matching(names, filter);
    let listed: Vec<&String> = all.by_ref().take(MAX_LISTED).collect();
    (listed, all.count())
}

fn more_note(ui: &mut Ui, more: usize) {
    if more > 0 {
        ui.weak(format!("… and {more} more: type to narrow"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_word_must_match_in_any_case() {
        let artists = names(&["The Beatles", "Beach Boys", "Alan Parsons Project"]);
        let found: Vec<&String> = matching(&artists, "bea").collect();
        assert_eq!(found, ["The Beatles", "Beach Boys"]);
        let found: Vec<&String> = matching(&artists, "BOYS beach").collect();
        assert_eq!(found, ["Beach Boys"]);
        assert_eq!(matching(&artists, "  ").count(), 3);
    }

    #[test]
    fn long_lists_are_cut_and_counted() {
        let many: Vec<String> = (0..500).map(|i| format!("artist {i}")).collect();
        let (listed, more) = list_matches(&many, "artist");
        assert_eq!((listed.len(), more), (MAX_LISTED, 300));
        let (listed, more) = list_matches(&many, "artist 49");
        // Every word anywhere: 49, 149, 249, 349, 449 and 490 to 499.
        assert_eq!((listed.len(), more), (15, 0));
    }
}
