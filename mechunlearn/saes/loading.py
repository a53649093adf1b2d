"""Load sae-lens SAEs: a pretrained release and id, or a local folder in sae-lens format.

``load_sae("gpt2-small-res-jb:blocks.8.hook_resid_pre")`` or ``load_sae("saes/m/hook")``.
A release is looked up in sae-lens' own directory of pretrained SAEs; with no network and no
cached copy it fails within seconds, saying how to download a folder and point at it.
``check_sae_fits`` refuses an SAE whose hook or input size does not match the model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.paths import home
from mechunlearn.models.hooked import HookedLM

log = logging.getLogger(__name__)

CFG_FILE = "cfg.json"


def _split_release(spec: str) -> tuple[str, str] | None:
    """``release:id`` -> ``(release, id)``; ``None`` for something that looks like a path."""
    if ":" not in spec or Path(spec).exists() or spec.startswith((".", "/", "~")):
        return None
    release, sae_id = spec.split(":", 1)
    return release, sae_id


def sae_reference(spec: str | Path) -> str:
    """The canonical way to name an SAE in saved edits: ``release:id``, or a folder path.

    A folder inside the mechunlearn home (e.g. the shipped ``saes/...``) is stored relative to
    it, so a saved edit still resolves from another checkout.
    """
    spec = str(spec)
    if _split_release(spec):
        return spec
    p = Path(spec).expanduser().resolve()
    try:
        return str(p.relative_to(home()))
    except ValueError:
        return str(p)


def _resolve_folder(spec: str) -> Path:
    p = Path(spec).expanduser()
    if not p.is_absolute() and not p.exists():
        p = home() / p  # references saved relative to the checkout
    if not p.is_dir():
        raise MechUnlearnError(
            f"SAE folder does not exist: {spec}; give a folder in sae-lens format (cfg.json + "
            "sae_weights.safetensors), or a pretrained release as RELEASE:ID "
            "(e.g. gpt2-small-res-jb:blocks.8.hook_resid_pre)"
        )
    if not (p / CFG_FILE).is_file():
        raise MechUnlearnError(f"{p} is not an SAE folder in sae-lens format: it has no {CFG_FILE}")
    return p


def _load_release(release: str, sae_id: str, device: str):
    from sae_lens import SAE
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    directory = get_pretrained_saes_directory()
    if release not in directory:
        close = sorted(r for r in directory if release.split("-")[0] in r)[:8]
        raise MechUnlearnError(
            f"unknown SAE release '{release}'"
            + (f"; similar releases: {close}" if close else "")
            + "; or give a local SAE folder"
        )
    lookup = directory[release]
    if sae_id not in lookup.saes_map:
        ids = list(lookup.saes_map)
        raise MechUnlearnError(f"release '{release}' has no SAE '{sae_id}'; it has e.g. {ids[:8]}")
    from huggingface_hub import constants

    from mechunlearn.models.loading import _hub_reachable

    cached = (Path(constants.HF_HUB_CACHE) / f"models--{lookup.repo_id.replace('/', '--')}").is_dir()
    online = _hub_reachable()
    if not online and not cached:
        raise MechUnlearnError(
            f"SAE release '{release}' lives in the Hugging Face repo {lookup.repo_id}, which is not cached here "
            "and the hub cannot be reached. On a machine with network run "
            f"`huggingface-cli download {lookup.repo_id} --include '{lookup.saes_map[sae_id]}/*'` (it lands in the "
            f"Hugging Face cache, {constants.HF_HUB_CACHE}; copy models--{lookup.repo_id.replace('/', '--')} there "
            f"if that was another machine) and rerun with the same --sae {release}:{sae_id}; sae-lens converts "
            "the release's format when it loads it"
        )
    offline_before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = offline_before or not online  # cached only: never try the network
    try:
        return SAE.from_pretrained(release, sae_id, device=device)
    except Exception as e:  # missing files in a partial cache, format errors, ...
        raise MechUnlearnError(f"could not load SAE {release}:{sae_id}: {e}") from e
    finally:
        constants.HF_HUB_OFFLINE = offline_before


def load_sae(spec: str | Path, *, device: str | torch.device = "cpu"):
    """An inference ``sae_lens.SAE`` from ``RELEASE:ID`` or a local sae-lens folder."""
    from sae_lens import SAE

    spec = str(spec)
    device = str(device)
    rel = _split_release(spec)
    if rel:
        sae = _load_release(*rel, device=device)
    else:
        folder = _resolve_folder(spec)
        try:
            sae = SAE.load_from_disk(str(folder), device=device)
        except Exception as e:
            raise MechUnlearnError(f"could not load the SAE in {folder}: {e}") from e
    sae.eval()
    for p in sae.parameters():
        p.requires_grad_(False)
    return sae


def sae_hook(sae) -> str:
    """The hook point the SAE was trained on (from its sae-lens metadata)."""
    hook = sae.cfg.metadata.hook_name
    if not hook:
        raise MechUnlearnError("the SAE's config names no hook (metadata.hook_name); it cannot be placed on a model")
    return str(hook)


@torch.no_grad()
def activation_size(model: HookedLM, hook: str) -> int:
    """Width of the activation at ``hook`` (one short forward pass, remembered per hook)."""
    sizes = model.__dict__.setdefault("_hook_sizes", {})
    if hook not in sizes:
        model.check_hook(hook)
        got = {}

        def grab(act, hook):
            got["d"] = act.shape[-1]

        ids, mask = model.pad([model.encode("a")])
        with model.bridge.hooks(fwd_hooks=[(hook, grab)]):  # the bare model: edits may need this size
            model.bridge(ids, attention_mask=mask)
        sizes[hook] = int(got["d"])
    return sizes[hook]


def check_sae_fits(sae, model: HookedLM, spec: str = "the SAE") -> str:
    """Refuse an SAE whose hook is not in ``model`` or whose input size differs; returns the hook."""
    hook = sae_hook(sae)
    if hook not in model._hook_set():
        raise MechUnlearnError(
            f"{spec} reads hook '{hook}' (trained on model '{sae.cfg.metadata.model_name}'), which model "
            f"'{model.name}' does not have; valid hooks are e.g. blocks.0.hook_resid_pre .. "
            f"blocks.{model.n_layers - 1}.hook_resid_post"
        )
    d = activation_size(model, hook)
    if int(sae.cfg.d_in) != d:
        raise MechUnlearnError(
            f"{spec} takes inputs of size {sae.cfg.d_in} at '{hook}' (trained on model "
            f"'{sae.cfg.metadata.model_name}'), but model '{model.name}' has size {d} there"
        )
    trained_on = sae.cfg.metadata.model_name
    if trained_on and trained_on != model.name:
        log.warning(
            "SAE %s was trained on model '%s'; applying it to '%s' (hook and size match)", spec, trained_on, model.name
        )
    return hook


def sae_fingerprint(sae) -> str:
    """Short hash of the SAE's weights (same sampling as the model fingerprint)."""
    import hashlib

    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in sorted(sae.state_dict().items()):
            flat = t.detach().reshape(-1)
            h.update(name.encode() + str(tuple(t.shape)).encode())
            h.update(flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy().tobytes())
            h.update(f"{flat.float().sum().item():.6e}".encode())
    return h.hexdigest()[:16]
