//! Artist, genre and lyric labels: what users type to the ids each level's prior was trained
//! with (the manifest's `vocabularies`), by openai/jukebox's rules (`data/labels.py`,
//! `data/artist_genre_processor.py`, `data/text_processor.py`):
//!
//! - v3 (the 1b_lyrics top prior): artist and genre lowercased; one genre.
//! - v2 (every other prior): `norm` keeps ASCII letters and digits, every other run becomes one
//!   `_`, trimmed at both ends; the vocabulary's keys carry `.v2`. A genre is a bag of words:
//!   `norm(genre)` split on `_` ("Country Rock", "hip-hop", "R&B" are two words each).
//! - Lyrics: transliterated to ASCII as Python's Unidecode does ([`transliterate`]), `\` to a
//!   newline, then every character the lyrics vocabulary lacks is dropped (the original's
//!   `not_vocab` regex is exactly the complement of its vocabulary).
//!
//! Deliberate difference: an unknown artist or genre is an error naming the closest known
//! names; the original silently used id 0 ("unknown") after a printed warning, which would
//! make a typo sound like a different band without a word.

use crate::jukebox::Manifest;

use super::error::EngineError;
use super::transliterate::transliterate;

/// Tokenizer version of a prior's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerVersion {
    V2,
    V3,
}

impl TokenizerVersion {
    fn parse(text: &str) -> Self {
        if text == "v3" { Self::V3 } else { Self::V2 }
    }
}

/// openai/jukebox's `norm`: lowercase, ASCII letters and digits kept, every other run of
/// characters one `_`, `_` trimmed at both ends.
pub fn norm(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// `name` as the vocabulary of a `version` prior stores it. v3 names are lowercased (and, a
/// deliberate difference, trimmed: a stray space is never part of a name).
pub fn normalise_name(name: &str, version: TokenizerVersion) -> String {
    match version {
        TokenizerVersion::V3 => name.trim().to_lowercase(),
        TokenizerVersion::V2 => format!("{}.v2", norm(name)),
    }
}

/// The vocabulary keys a genre name stands for at a `version` prior: one for v3, one per
/// word for v2.
pub fn genre_keys(name: &str, version: TokenizerVersion) -> Vec<String> {
    match version {
        TokenizerVersion::V3 => vec![normalise_name(name, version)],
        TokenizerVersion::V2 => norm(name)
            .split('_')
            .filter(|word| !word.is_empty())
            .map(|word| format!("{word}.v2"))
            .collect(),
    }
}

/// The tokenizer version of `level`'s prior as the manifest writes it ("v2" when it does not say).
pub fn tokenizer_version(manifest: &Manifest, level: usize) -> &str {
    manifest
        .vocabularies
        .tokenizer_versions
        .get(&level.to_string())
        .map_or("v2", String::as_str)
}

/// The tokenizer version of `level`'s prior.
pub fn tokenizer(manifest: &Manifest, level: usize) -> TokenizerVersion {
    TokenizerVersion::parse(tokenizer_version(manifest, level))
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
    let version = tokenizer(manifest, level);
    let key = normalise_name(name, version);
    vocab
        .artists
        .get(&key)
        .copied()
        .ok_or_else(|| EngineError::UnknownArtist {
            name: name.to_string(),
            closest: closest_names(&key, vocab.artists.keys(), version),
        })
}

/// The genre ids of `names` at `level`: one per name at a v3 prior, one per word at a v2 one.
/// At most `max_nb_genres` names in all (one on 1b_lyrics), and at most the prior's own slots.
pub fn genre_ids(
    manifest: &Manifest,
    level: usize,
    names: &[String],
) -> Result<Vec<i64>, EngineError> {
    check_genre_count(manifest, names)?;
    let vocab = &manifest.vocabularies;
    let version = tokenizer(manifest, level);
    let mut ids = Vec::new();
    for name in names {
        let keys = genre_keys(name, version);
        if keys.is_empty() {
            return Err(EngineError::InvalidInput(format!(
                "genre {name:?} has no letters or digits"
            )));
        }
        for key in keys {
            let id = vocab.genres.get(&key).copied();
            ids.push(id.ok_or_else(|| EngineError::UnknownGenre {
                name: name.clone(),
                closest: closest_names(&key, vocab.genres.keys(), version),
            })?);
        }
    }
    let slots = manifest
        .prior(level)
        .map_or(manifest.labels.max_nb_genres, |p| {
            p.conditioning.max_nb_genres
        });
    if ids.len() > slots {
        return Err(EngineError::InvalidInput(format!(
            "{names:?} make {} genre words at level {level}, whose prior takes at most {slots}",
            ids.len()
        )));
    }
    Ok(ids)
}

/// Refuses more genre names than the model takes (`labels.max_nb_genres`: 1 for 1b_lyrics,
/// whose top prior was trained with `max_bow_genre_size=1`).
pub fn check_genre_count(manifest: &Manifest, names: &[String]) -> Result<(), EngineError> {
    let max = manifest.labels.max_nb_genres;
    if names.len() > max {
        let takes = if max == 1 {
            "one genre".to_string()
        } else {
            format!("at most {max} genres")
        };
        return Err(EngineError::InvalidInput(format!(
            "{} genres given ({}); model {} takes {takes}",
            names.len(),
            names.join(", "),
            manifest.model.name
        )));
    }
    Ok(())
}

/// Lyrics to character ids of the top prior, as openai/jukebox's `TextProcessor` makes them:
/// Unidecode transliteration, `\` to a newline, characters outside the vocabulary dropped.
pub fn lyric_ids(manifest: &Manifest, lyrics: &str) -> Vec<i64> {
    let vocab = &manifest.vocabularies.lyrics;
    let mut buf = [0u8; 4];
    transliterate(lyrics)
        .replace('\\', "\n")
        .chars()
        .filter_map(|c| vocab.get(c.encode_utf8(&mut buf) as &str).copied())
        .filter(|&id| id != manifest.vocabularies.unknown_id)
        .collect()
}

/// The names of a vocabulary (`manifest.vocabularies.artists` or `.genres`) as a user types
/// them for this model's top prior, one per id, in id order: a vocabulary may hold the keys of both
/// tokenizer versions for one id ("artist 3" and "artist_3.v2"); the top prior's version wins.
/// What the editor lists and `encore models --artists` prints, so both count alike.
pub fn display_names(
    manifest: &Manifest,
    vocabulary: &std::collections::BTreeMap<String, i64>,
) -> Vec<String> {
    let top = manifest.vqvae.levels - 1;
    let v2 = tokenizer(manifest, top) == TokenizerVersion::V2;
    let mut by_id = std::collections::BTreeMap::<i64, &String>::new();
    for (key, id) in vocabulary {
        let fits = key.ends_with(".v2") == v2;
        let slot = by_id.entry(*id).or_insert(key);
        if fits && slot.ends_with(".v2") != v2 {
            *slot = key;
        }
    }
    by_id
        .into_values()
        .map(|key| if v2 { display_name(key) } else { key.clone() })
        .collect()
}

/// How many close names an unknown-name error offers.
const CLOSEST_NAMES: usize = 3;

/// The known names nearest to `key` (a normalised key), as a user would type them.
fn closest_names<'a>(
    key: &str,
    keys: impl Iterator<Item = &'a String>,
    version: TokenizerVersion,
) -> String {
    let wanted = display_name(key);
    let mut scored: Vec<(f64, String)> = keys
        .filter(|k| k.ends_with(".v2") == (version == TokenizerVersion::V2))
        .map(|k| display_name(k))
        .map(|name| (strsim::jaro_winkler(&wanted, &name), name))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    let names: Vec<String> = scored
        .into_iter()
        .take(CLOSEST_NAMES)
        .map(|(_, name)| name)
        .collect();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// A vocabulary key as a user would type it: `.v2` dropped, `_` as spaces.
fn display_name(key: &str) -> String {
    key.strip_suffix(".v2").unwrap_or(key).replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_original_norm() {
        let v2 = TokenizerVersion::V2;
        assert_eq!(normalise_name("Artist 3", v2), "artist_3.v2");
        assert_eq!(normalise_name("  The  Beatles! ", v2), "the_beatles.v2");
        assert_eq!(normalise_name("Céline Dion", v2), "c_line_dion.v2");
        assert_eq!(normalise_name("R.E.M.", v2), "r_e_m.v2");
        assert_eq!(normalise_name("Artist 3", TokenizerVersion::V3), "artist 3");
    }

    #[test]
    fn v2_genres_are_bags_of_words() {
        let v2 = TokenizerVersion::V2;
        assert_eq!(genre_keys("Country Rock", v2), ["country.v2", "rock.v2"]);
        assert_eq!(genre_keys("hip-hop", v2), ["hip.v2", "hop.v2"]);
        assert_eq!(genre_keys("R&B", v2), ["r.v2", "b.v2"]);
        assert_eq!(
            genre_keys("Country Rock", TokenizerVersion::V3),
            ["country rock"]
        );
    }
}
