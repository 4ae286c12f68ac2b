"""Reading a Hugging Face Jukebox snapshot folder (openai/jukebox-1b-lyrics, openai/jukebox-5b-lyrics):
config.json, weights (model.safetensors, pytorch_model.bin, or their sharded forms with an
index json) and the tokenizer's artists.json / genres.json / lyrics.json.

Weights are read part by part ("vqvae.", "priors.0.", ...) into modules built on the meta
device, so only the part being exported is ever materialised (safetensors and torch's mmap
loading read tensors from disk on demand)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers.models.jukebox.modeling_jukebox import JukeboxPrior, JukeboxVQVAE

from .errors import SnapshotError
from .random_weights import shared_params_applied

VOCAB_FILES = ("artists.json", "genres.json", "lyrics.json")
WEIGHT_LAYOUTS = (
    ("model.safetensors.index.json", "safetensors"),
    ("model.safetensors", "safetensors"),
    ("pytorch_model.bin.index.json", "bin"),
    ("pytorch_model.bin", "bin"),
)


def _weight_map(folder: Path) -> tuple[dict[str, Path], str]:
    """tensor name -> file holding it, and the file format."""
    for name, fmt in WEIGHT_LAYOUTS:
        path = folder / name
        if not path.is_file():
            continue
        if not name.endswith(".index.json"):
            return {"*": path}, fmt
        try:
            index = json.loads(path.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as err:
            raise SnapshotError(f"{path}: not a weight index ({err})") from err
        missing = sorted({f for f in index.values() if not (folder / f).is_file()})
        if missing:
            raise SnapshotError(f"{path} names shard files that are not in the snapshot: {', '.join(missing)}")
        return {key: folder / f for key, f in index.items()}, fmt
    looked_for = ", ".join(n for n, _ in WEIGHT_LAYOUTS)
    raise SnapshotError(f"{folder}: no weights found (looked for {looked_for})")


class Snapshot:
    """Source of Jukebox parts loaded from a snapshot folder."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        if not folder.is_dir():
            raise SnapshotError(f"{folder}: not a folder")
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise SnapshotError(f"{folder}: no config.json, so not a Hugging Face snapshot")
        try:
            raw = json.loads(config_path.read_text())
        except json.JSONDecodeError as err:
            raise SnapshotError(f"{config_path}: not valid JSON ({err})") from err
        if raw.get("model_type") != "jukebox":
            raise SnapshotError(f"{config_path}: model_type is {raw.get('model_type')!r}, expected 'jukebox'")
        missing_vocab = [n for n in VOCAB_FILES if not (folder / n).is_file()]
        if missing_vocab:
            raise SnapshotError(f"{folder}: tokenizer files missing: {', '.join(missing_vocab)}")
        from transformers import JukeboxConfig

        self.config = shared_params_applied(JukeboxConfig(**raw))
        self.folder = folder
        self.name = folder.name
        self.vocab_files = {n.split(".")[0]: folder / n for n in VOCAB_FILES}
        tokenizer_config = folder / "tokenizer_config.json"
        self.tokenizer_config = json.loads(tokenizer_config.read_text()) if tokenizer_config.is_file() else {}
        self.weight_map, self.weight_format = _weight_map(folder)

    def _files_for(self, prefix: str) -> list[Path]:
        if "*" in self.weight_map:
            return [self.weight_map["*"]]
        return sorted({f for key, f in self.weight_map.items() if key.startswith(prefix)})

    def _state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        """Every tensor whose name starts with prefix, prefix stripped; lazily read from disk."""
        tensors = {}
        for path in self._files_for(prefix):
            try:
                if self.weight_format == "safetensors":
                    from safetensors import safe_open

                    with safe_open(str(path), framework="pt") as handle:
                        for key in handle.keys():
                            if key.startswith(prefix):
                                tensors[key[len(prefix):]] = handle.get_tensor(key)
                else:
                    shard = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
                    tensors.update({k[len(prefix):]: v for k, v in shard.items() if k.startswith(prefix)})
                    del shard
            except Exception as err:  # corrupt or truncated files: say which one
                raise SnapshotError(f"{path}: cannot read weights ({err})") from err
        if not tensors:
            raise SnapshotError(f"{self.folder}: the weights hold no tensors named {prefix}*")
        return tensors

    @staticmethod
    def _fill_tied(module: torch.nn.Module, state: dict) -> None:
        """Tied weights (e.g. embed_tokens / fc_proj_out when merged_decoder is false) are stored
        once; give every name of a tie the stored tensor."""
        names_by_param = {}
        for name, param in module.named_parameters(remove_duplicate=False):
            names_by_param.setdefault(id(param), []).append(name)
        for names in names_by_param.values():
            present = [n for n in names if n in state]
            for name in names:
                if present and name not in state:
                    state[name] = state[present[0]]

    def _load(self, module: torch.nn.Module, prefix: str) -> torch.nn.Module:
        state = self._state_dict(prefix)
        self._fill_tied(module, state)
        expected = module.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing:
            raise SnapshotError(f"{self.folder}: {len(missing)} tensors of {prefix}* are missing, e.g. {missing[:3]}")
        if unexpected:
            raise SnapshotError(
                f"{self.folder}: {len(unexpected)} tensors of {prefix}* do not fit config.json, e.g. {unexpected[:3]}")
        for key, value in state.items():
            if tuple(value.shape) != tuple(expected[key].shape):
                raise SnapshotError(f"{self.folder}: {prefix}{key} has shape {tuple(value.shape)}, "
                                    f"config.json implies {tuple(expected[key].shape)}")
        module.load_state_dict({k: v.float() for k, v in state.items()}, assign=True, strict=True)
        return module.eval()

    def vqvae(self) -> JukeboxVQVAE:
        with torch.device("meta"):
            vqvae = JukeboxVQVAE(self.config.vqvae_config)
        return self._load(vqvae, "vqvae.")

    def prior(self, index: int) -> JukeboxPrior:
        with torch.device("meta"):
            prior = JukeboxPrior(self.config.prior_configs[index], level=index)
        return self._load(prior, f"priors.{index}.")
