//! Codes in a checkpoint: binary, not JSON numbers. A row of codes is written as one string,
//! `"u16:"` and the base64 of its codes as little-endian u16 (a Jukebox code is below the
//! codebook size, 2048), about 2.7 characters a code where JSON numbers took 5; a row with a
//! code outside u16 (never seen) stays a JSON array. Either form is read, so checkpoints written
//! before this format still load.
//!
//! Used through `#[serde(with = "...")]` on the fields that hold codes: [`rows`] for
//! `Vec<Vec<i64>>`, [`levels`] for `Vec<Option<Vec<Vec<i64>>>>`.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

const U16_PREFIX: &str = "u16:";

/// Per level, every take's row of codes once the level is finished.
pub type LevelCodes = Vec<Option<Vec<Vec<i64>>>>;
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| format!("{:?} is not base64", c as char))? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// One row, written compactly.
struct Row<'a>(&'a [i64]);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self
            .0
            .iter()
            .all(|&c| (0..=i64::from(u16::MAX)).contains(&c))
        {
            let bytes: Vec<u8> = self
                .0
                .iter()
                .flat_map(|&c| (c as u16).to_le_bytes())
                .collect();
            serializer.serialize_str(&format!("{U16_PREFIX}{}", base64_encode(&bytes)))
        } else {
            let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
            for code in self.0 {
                seq.serialize_element(code)?;
            }
            seq.end()
        }
    }
}

/// One row as read: either form.
struct OwnedRow(Vec<i64>);

impl<'de> Deserialize<'de> for OwnedRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = OwnedRow;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row of codes (\"u16:<base64>\" or an array of integers)")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<OwnedRow, E> {
                let data = text
                    .strip_prefix(U16_PREFIX)
                    .ok_or_else(|| E::custom(format!("unknown code row format {text:.8?}")))?;
                let bytes = base64_decode(data).map_err(E::custom)?;
                if bytes.len() % 2 != 0 {
                    return Err(E::custom("a u16 code row has an odd number of bytes"));
                }
                let codes = bytes
                    .chunks_exact(2)
                    .map(|b| i64::from(u16::from_le_bytes([b[0], b[1]])))
                    .collect();
                Ok(OwnedRow(codes))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OwnedRow, A::Error> {
                let mut codes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(code) = seq.next_element::<i64>()? {
                    codes.push(code);
                }
                Ok(OwnedRow(codes))
            }
        }
        deserializer.deserialize_any(RowVisitor)
    }
}

/// `Vec<Vec<i64>>`: one compact row per take.
pub mod rows {
    use super::*;

    pub fn serialize<S: Serializer>(rows: &[Vec<i64>], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(rows.len()))?;
        for row in rows {
            seq.serialize_element(&Row(row))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<i64>>, D::Error> {
        let rows = Vec::<OwnedRow>::deserialize(deserializer)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

/// `Vec<Option<Vec<Vec<i64>>>>`: per level, the takes' rows once the level is finished.
pub mod levels {
    use super::*;

    struct Rows<'a>(&'a [Vec<i64>]);

    impl Serialize for Rows<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            rows::serialize(self.0, serializer)
        }
    }

    pub fn serialize<S: Serializer>(
        levels: &[Option<Vec<Vec<i64>>>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(levels.len()))?;
        for level in levels {
            seq.serialize_element(&level.as_deref().map(Rows))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LevelCodes, D::Error> {
        let levels = Vec::<Option<Vec<OwnedRow>>>::deserialize(deserializer)?;
        Ok(levels
            .into_iter()
            .map(|l| l.map(|rows| rows.into_iter().map(|r| r.0).collect()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "rows")]
        rows: Vec<Vec<i64>>,
        #[serde(with = "levels")]
        levels: Vec<Option<Vec<Vec<i64>>>>,
    }

    #[test]
    fn codes_round_trip_compactly_and_old_arrays_still_read() {
        let holder = Holder {
            rows: vec![vec![0, 1, 2047, 65535, 7], vec![], vec![3; 10]],
            levels: vec![None, Some(vec![vec![5, 6], vec![-1, 1 << 40]])],
        };
        let json = serde_json::to_string(&holder).unwrap();
        assert!(json.contains("\"u16:"), "{json}");
        // The row with codes outside u16 stays an array.
        assert!(json.contains("[-1,1099511627776]"), "{json}");
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), holder);
        let old = r#"{"rows":[[1,2,3]],"levels":[null,[[4,5]]]}"#;
        let read: Holder = serde_json::from_str(old).unwrap();
        assert_eq!(read.rows, [[1, 2, 3]]);
        assert_eq!(read.levels, [None, Some(vec![vec![4, 5]])]);
        // A long row of codes up to 2047: about 60 % of the JSON numbers (4.4 characters a code).
        let long = Holder {
            rows: vec![(0..10_000).map(|i| i % 2048).collect()],
            levels: vec![],
        };
        let compact = serde_json::to_string(&long).unwrap().len();
        let numbers = serde_json::to_string(&long.rows).unwrap().len();
        assert!(compact * 10 < numbers * 7, "{compact} vs {numbers}");
        for n in 0..8 {
            let bytes: Vec<u8> = (0..n).map(|i| i * 37 + 1).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
    }
}
