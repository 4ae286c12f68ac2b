//! Artist, genre and lyric labels: names as users type them to the ids each level's prior was
//! trained with (the manifest's `vocabularies`, normalised per `name_rules`).
//!
//! - v3 (the 1b_lyrics top prior): names are lowercased.
//! - v2 (everything else): lowercase, every run of characters outside `[a-z0-9.]` becomes one
//!   `_`, `_` stripped at both ends, `.v2` appended. Genres are split on `_` first and each part
//!   normalised the same way.

use crate::jukebox::Manifest;

use super::error::EngineError;

/// `name` normalised for a tokenizer `version` ("v2" or "v3").
pub fn normalise_name(name: &str, version: &str) -> String {
    let lower = name.trim().to_lowercase();
    if version != "v2" {
        return lower;
    }
    let mut out = String::with_capacity(lower.len() + 3);
    let mut in_run = false;
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    let mut out = out.trim_matches('_').to_string();
    out.push_str(".v2");
    out
}

/// The tokenizer version of `level`'s prior ("v2" when the manifest does not say).
pub fn tokenizer_version(manifest: &Manifest, level: usize) -> &str {
    manifest
        .vocabularies
        .tokenizer_versions
        .get(&level.to_string())
        .map_or("v2", String::as_str)
}

/// The artist id of `name` at `level`; `None` is the unknown artist.
pub fn artist_id(
    manifest: &Manifest,
    level: usize,
    name: Option<&str>,
) -> Result<i64, EngineError> {
    let vocab = &manifest.vocabularies;
    let Some(name) = name else {
        return Ok(vocab.unknown_id);
    };
    let key = normalise_name(name, tokenizer_version(manifest, level));
    vocab
        .artists
        .get(&key)
        .copied()
        .ok_or_else(|| EngineError::UnknownArtist {
            name: name.to_string(),
            examples: examples(vocab.artists.keys()),
        })
}

/// The genre ids of `names` at `level` (v2 splits each name on `_` first).
pub fn genre_ids(
    manifest: &Manifest,
    level: usize,
    names: &[String],
) -> Result<Vec<i64>, EngineError> {
    let vocab = &manifest.vocabularies;
    let version = tokenizer_version(manifest, level);
    let mut ids = Vec::new();
    for name in names {
        let parts: Vec<&str> = if version == "v2" {
            name.split('_').filter(|p| !p.trim().is_empty()).collect()
        } else {
            vec![name.as_str()]
        };
        for part in parts {
            let id = vocab.genres.get(&normalise_name(part, version)).copied();
            ids.push(id.ok_or_else(|| EngineError::UnknownGenre {
                name: name.clone(),
                examples: examples(vocab.genres.keys()),
            })?);
        }
    }
    let max = manifest.labels.max_nb_genres;
    if ids.len() > max {
        return Err(EngineError::InvalidInput(format!(
            "{} genres given ({names:?}); the model takes at most {max}",
            ids.len()
        )));
    }
    Ok(ids)
}

/// Lyrics to character ids of the top prior, as the reference tokenizer does: accents stripped
/// (NFD, combining marks removed; here for the Latin-1 letters, see [`strip_accent`]), `\`
/// becomes a newline, and characters outside the vocabulary (the manifest's
/// `lyrics_oov_regex`) are dropped.
pub fn lyric_ids(manifest: &Manifest, lyrics: &str) -> Vec<i64> {
    let vocab = &manifest.vocabularies.lyrics;
    let mut buf = [0u8; 4];
    lyrics
        .replace('\\', "\n")
        .chars()
        .map(strip_accent)
        .filter_map(|c| vocab.get(c.encode_utf8(&mut buf) as &str).copied())
        .filter(|&id| id != manifest.vocabularies.unknown_id)
        .collect()
}

/// Latin-1 letters with the accent NFD would split off, and the letter left behind (`Ø`, `ß`,
/// `Æ` do not decompose and stay, to be dropped as out of vocabulary).
const ACCENTED: &str = "ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿ";
const UNACCENTED: &str = "AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOoooooUUUUuuuuYyy";

/// `c` without its accent (Latin-1 letters only; anything else unchanged).
pub fn strip_accent(c: char) -> char {
    ACCENTED
        .chars()
        .position(|a| a == c)
        .and_then(|i| UNACCENTED.chars().nth(i))
        .unwrap_or(c)
}

/// A few names a user can try, in the form the vocabulary stores them (v3 style preferred).
fn examples<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut picked: Vec<&str> = names
        .map(String::as_str)
        .filter(|n| !n.ends_with(".v2"))
        .take(5)
        .collect();
    if picked.is_empty() {
        picked.push("(none)");
    }
    picked.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(normalise_name("Artist 3", "v2"), "artist_3.v2");
        assert_eq!(normalise_name("  The  Beatles! ", "v2"), "the_beatles.v2");
        assert_eq!(normalise_name("Céline Dion", "v2"), "c_line_dion.v2");
        assert_eq!(normalise_name("Artist 3", "v3"), "artist 3");
    }

    #[test]
    fn accents_are_stripped_like_nfd() {
        assert_eq!(ACCENTED.chars().count(), UNACCENTED.chars().count());
        let folded: String = "Céline Ñoño Ø".chars().map(strip_accent).collect();
        assert_eq!(folded, "Celine Nono Ø");
    }
}
