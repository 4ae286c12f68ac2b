//! Lyrics and names as openai/jukebox reads them, against goldens made with its rules and
//! Python's Unidecode (tests/goldens/text.json, written by `encore_export.text_goldens`).

mod common;

use common::model_dir;
use encore::engine::EngineError;
use encore::engine::labels::{self, TokenizerVersion};
use encore::engine::transliterate::transliterate;
use encore::jukebox::Manifest;
use serde_json::Value;

fn goldens() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens/text.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn pairs(section: &str) -> Vec<(String, Value)> {
    goldens()[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].clone()))
        .collect()
}

#[test]
fn lyrics_are_transliterated_as_pythons_unidecode_does() {
    let mut wrong = Vec::new();
    for (text, want) in pairs("transliteration") {
        let got = transliterate(&text);
        if got != want.as_str().unwrap() {
            wrong.push(format!("{text:?}: got {got:?}, Unidecode gives {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn lyric_tokens_match_the_original_text_processor() {
    // tiny-5b-lyrics' top prior reads v2 lyrics (80 symbols), tiny-1b-lyrics' v3 (79, no '+').
    for (model, section) in [
        ("tiny-5b-lyrics", "lyrics_v2"),
        ("tiny-1b-lyrics", "lyrics_v3"),
    ] {
        let manifest = Manifest::load(&model_dir(model)).unwrap();
        for (text, want) in pairs(section) {
            let want: Vec<i64> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(
                labels::lyric_ids(&manifest, &text),
                want,
                "{model}: {text:?}"
            );
        }
    }
}

#[test]
fn names_and_genre_words_follow_the_original_norm() {
    for (name, want) in pairs("names_v2") {
        let want = format!("{}.v2", want.as_str().unwrap());
        assert_eq!(
            labels::normalise_name(&name, TokenizerVersion::V2),
            want,
            "{name:?}"
        );
    }
    for (genre, words) in pairs("genres_v2") {
        let want: Vec<String> = words
            .as_array()
            .unwrap()
            .iter()
            .map(|w| format!("{}.v2", w.as_str().unwrap()))
            .collect();
        assert_eq!(
            labels::genre_keys(&genre, TokenizerVersion::V2),
            want,
            "{genre:?}"
        );
    }
}

#[test]
fn names_with_punctuation_find_their_ids() {
    let mut manifest = Manifest::load(&model_dir("tiny-5b")).unwrap();
    let vocab = &mut manifest.vocabularies;
    vocab.artists.insert("r_e_m.v2".into(), 7);
    vocab.genres.insert("country.v2".into(), 3);
    vocab.genres.insert("rock.v2".into(), 4);
    assert_eq!(labels::artist_id(&manifest, 2, Some("R.E.M.")).unwrap(), 7);
    let genres = labels::genre_ids(&manifest, 2, &["Country Rock".into()]).unwrap();
    assert_eq!(genres, [3, 4]);
    let genres = labels::genre_ids(&manifest, 2, &["country-rock".into()]).unwrap();
    assert_eq!(genres, [3, 4]);
}

#[test]
fn an_unknown_name_is_an_error_that_names_the_closest_known_ones() {
    let manifest = Manifest::load(&model_dir("tiny-5b")).unwrap();
    let error = labels::artist_id(&manifest, 2, Some("Artist 33")).unwrap_err();
    let EngineError::UnknownArtist { ref closest, .. } = error else {
        panic!("expected UnknownArtist, got {error:?}");
    };
    assert!(closest.split(", ").any(|n| n == "artist 3"), "{error}");
    let error = labels::genre_ids(&manifest, 2, &["genr1".into()]).unwrap_err();
    assert!(
        matches!(&error, EngineError::UnknownGenre { closest, .. } if closest.starts_with("genre1")),
        "{error}"
    );
}

#[test]
fn the_1b_lyrics_model_takes_one_genre() {
    let manifest = Manifest::load(&model_dir("tiny-1b-lyrics")).unwrap();
    assert_eq!(
        labels::genre_ids(&manifest, 2, &["genre1".into()]).unwrap(),
        [1]
    );
    let error = labels::genre_ids(&manifest, 2, &["genre1".into(), "genre2".into()])
        .unwrap_err()
        .to_string();
    assert!(error.contains("takes one genre"), "{error}");
}
