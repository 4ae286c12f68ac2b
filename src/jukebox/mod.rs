//! The Jukebox model definition as the engine sees it: the exported model folder's contract
//! (`manifest.json`) and the conditioning rules that go with it.

pub mod kinds;
pub mod manifest;
pub mod verified;

pub use kinds::{
    CacheKind, CacheWriter, ElementType, GraphKind, LyricsMode, Precision, WeightsSource,
};
pub use manifest::{GraphSpec, Manifest, ManifestError, PriorSpec};
pub use verified::HashCache;
