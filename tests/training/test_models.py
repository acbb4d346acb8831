"""DualHeadNet: one tester base class run over several timm backbones, both decoder modes and
both fusions of the pair."""

from __future__ import annotations

import json
import pickle

import pytest
import timm
import torch

from datagen.common.errors import InputError
from training.model_config import DEFAULT_BACKBONE, HUB_WEIGHTS, ModelConfig
from training.models import build_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a busy machine the threads'
    spin-waiting made these tests several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(batch: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, h, w, generator=g), torch.randn(batch, 3, h, w, generator=g)


class BaseModelTester:
    """Every backbone and decoder mode must pass the same checks."""

    backbone: str
    size = 32
    odd_size = (33, 47)  # not a multiple of any total stride

    @pytest.fixture(
        params=[
            ("shared", True, "early"),
            ("separate", True, "early"),
            ("shared", False, "early"),
            ("separate", False, "siamese"),
        ],
        ids=["shared", "separate", "shared-no-full-res", "siamese"],
    )
    def cfg(self, request: pytest.FixtureRequest) -> ModelConfig:
        decoder, full_res_stage, fusion = request.param
        return ModelConfig(
            backbone=self.backbone,
            decoder=decoder,
            decoder_channels=32,
            full_res_stage=full_res_stage,
            fusion=fusion,
        )

    @pytest.fixture
    def model(self, cfg: ModelConfig) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(cfg)

    def test_output_shapes_and_ranges(self, model, cfg):
        assert len(model.decoders) == (1 if cfg.decoder == "shared" else 2)
        out = model(*_pair(2, self.size, self.size))
        assert set(out) == {"mask_logits", "depth"}
        for v in out.values():
            assert v.shape == (2, 1, self.size, self.size)
            assert torch.isfinite(v).all()

    def test_decoder_output_stride(self, model, cfg):
        """Stride 1 with the full-resolution stage; else the finest encoder stride, upsampled."""
        decoder = model.decoders[0]
        finest = min(model.encoder.feature_info.reduction())
        assert decoder.out_reduction == (1 if cfg.full_res_stage else finest)
        assert (decoder.input_stem is not None) == cfg.full_res_stage

    def test_backward_reaches_encoder_and_both_heads(self, model):
        out = model(*_pair(2, self.size, self.size))
        (out["mask_logits"].mean() + out["depth"].mean()).backward()
        for part in (model.encoder, *model.decoders, model.mask_head, model.depth_head):
            grads = [p.grad for p in part.parameters() if p.requires_grad]
            assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
            assert any(g.abs().sum() > 0 for g in grads)

    def test_odd_input_size_keeps_its_shape(self, model):
        h, w = self.odd_size
        out = model.eval()(*_pair(1, h, w))
        for v in out.values():
            assert v.shape == (1, 1, h, w) and torch.isfinite(v).all()

    def test_save_load_round_trip(self, model, cfg, tmp_path):
        model.eval()
        path = tmp_path / "ckpt.pt"
        torch.save({"model_config": cfg.to_dict(), "model": model.state_dict()}, path)
        ckpt = torch.load(path, weights_only=True)
        again = build_model(ModelConfig.from_dict(ckpt["model_config"]))
        again.load_state_dict(ckpt["model"])
        again.eval()
        inputs = _pair(2, self.size, self.size, seed=1)
        with torch.no_grad():
            want, got = model(*inputs), again(*inputs)
        for k in want:
            assert torch.equal(want[k], got[k])

    def test_identical_shots_give_a_zero_difference_to_the_decoder(self):
        """Siamese: the decoder sees each stage's fg_bg features, then their difference from
        the bg's, which is exactly zero where the shots are the same."""
        torch.manual_seed(0)
        model = build_model(ModelConfig(backbone=self.backbone, fusion="siamese"))
        bg, fgbg = _pair(2, self.size, self.size)
        with torch.no_grad():
            same = model.eval().encode(torch.cat([bg, bg], dim=1))
            differ = model.encode(torch.cat([bg, fgbg], dim=1))
        widths = model.encoder.feature_info.channels()
        for f, g, c in zip(same, differ, widths, strict=True):
            assert f.shape[1] == g.shape[1] == 2 * c
            assert torch.equal(f[:, c:], torch.zeros_like(f[:, c:]))
            assert g[:, c:].abs().sum() > 0

    def test_channels_last_gives_the_same_outputs(self, model):
        model.eval()
        inputs = _pair(2, self.size, self.size)
        with torch.no_grad():
            ref = model(*inputs)
            model.to(memory_format=torch.channels_last)
            out = model(*(x.contiguous(memory_format=torch.channels_last) for x in inputs))
        for k in ref:
            assert torch.allclose(out[k], ref[k], atol=1e-4)


class TestResnet(BaseModelTester):
    backbone = "test_resnet"


class TestEfficientnet(BaseModelTester):
    backbone = "test_efficientnet"


class TestConvnext(BaseModelTester):
    """Stride-4 first feature (no stride-2 level)."""

    backbone = "test_convnext"


class TestMambaout(BaseModelTester):
    """Its features come channels-last (NHWC) from timm."""

    backbone = "test_mambaout"


class TestVit(BaseModelTester):
    """Three features at the same reduction (16): no upsampling between them."""

    backbone = "test_vit"


class TestDefaultBackbone(BaseModelTester):
    backbone = DEFAULT_BACKBONE


@pytest.mark.parametrize("decoder", ["shared", "separate"])
def test_bf16_autocast_trains_and_stays_close_to_fp32(decoder):
    """One tiny backbone only: bf16 on a CPU without bf16 units is slow (the decoder's code
    path is the same for every backbone)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="test_resnet", decoder=decoder, decoder_channels=32))
    inputs = [x.contiguous(memory_format=torch.channels_last) for x in _pair(2, 32, 32)]
    model.to(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = model.eval()(*inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.train()(*inputs)
        (low["mask_logits"].float().mean() + low["depth"].float().mean()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.eval()(*inputs)
    for k in ref:
        assert low[k].dtype == torch.bfloat16 and low[k].shape == ref[k].shape
    assert (low["depth"].float() - ref["depth"]).abs().mean() < 0.05


# ----------------------------------------------------------------------------- config, errors


def test_config_round_trips_through_a_plain_dict():
    cfg = ModelConfig(backbone="test_resnet", decoder="separate", out_indices=(1, 2, 3))
    d = cfg.to_dict()
    assert d["out_indices"] == [1, 2, 3]
    assert ModelConfig.from_dict(d) == cfg
    assert ModelConfig.from_dict(json.loads(json.dumps(d))) == cfg


def test_checkpointed_config_does_not_need_the_pretrained_file(rgb_weights, tmp_path):
    path, _ = rgb_weights
    cfg = ModelConfig(backbone="test_resnet", pretrained_path=str(path))
    model = build_model(cfg).eval()
    ckpt = {"model_config": cfg.to_dict(), "model": model.state_dict()}
    path.unlink()
    again = build_model(ModelConfig.from_dict(ckpt["model_config"]))
    again.load_state_dict(ckpt["model"])
    bg, fgbg = _pair(1, 32, 32)
    with torch.no_grad():
        assert torch.equal(again.eval()(bg, fgbg)["depth"], model(bg, fgbg)["depth"])


def test_out_indices_select_encoder_stages():
    model = build_model(ModelConfig(backbone="test_resnet", out_indices=(2, 3, 4)))
    assert model.encoder.feature_info.reduction() == [8, 16, 32]
    assert len(model.decoders[0].blocks) == 3  # two skips + the full-resolution stage
    assert model(*_pair(2, 24, 24))["depth"].shape == (2, 1, 24, 24)


def test_unknown_backbone_is_an_input_error():
    with pytest.raises(InputError, match=r"^--backbone 'xyz': unknown timm model"):
        build_model(ModelConfig(backbone="xyz"))


def test_backbone_timm_cannot_build_is_an_input_error(monkeypatch):
    def refuse(name, **kwargs):
        raise RuntimeError(f"features_only not implemented for {name}\nmore detail")

    monkeypatch.setattr(timm, "create_model", refuse)
    with pytest.raises(InputError, match=r"features_only encoder \(features_only not implem"):
        build_model(ModelConfig(backbone="resnet18"))


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"decoder": "both"}, "--decoder"),
        ({"decoder_channels": 0}, "--decoder-channels"),
        ({"fusion": "late"}, "--fusion"),
    ],
)
def test_bad_config_values_are_input_errors(kwargs, flag):
    with pytest.raises(InputError, match=f"^{flag} "):
        ModelConfig(**kwargs)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(InputError, match="unknown field"):
        ModelConfig.from_dict({"backbone": "test_resnet", "width": 3})


# ----------------------------------------------------------------------------- pretrained


@pytest.fixture
def rgb_weights(tmp_path):
    """A 3-channel classification test_resnet's state dict in a file."""
    torch.manual_seed(1)
    src = timm.create_model("test_resnet", pretrained=False)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    return path, src.state_dict()


def test_pretrained_weights_load_and_the_stem_is_inflated(rgb_weights):
    path, sd = rgb_weights
    model = build_model(ModelConfig(backbone="test_resnet", pretrained_path=str(path)))
    enc = model.encoder.state_dict()
    stem = sd["conv1.0.weight"]
    assert enc["conv1.0.weight"].shape[1] == 6
    assert torch.allclose(enc["conv1.0.weight"][:, :3], stem / 2)
    assert torch.allclose(enc["conv1.0.weight"][:, 3:], stem / 2)
    assert torch.equal(enc["layer2.0.conv1.weight"], sd["layer2.0.conv1.weight"])
    random = build_model(ModelConfig(backbone="test_resnet")).encoder.state_dict()
    assert not torch.equal(random["layer2.0.conv1.weight"], sd["layer2.0.conv1.weight"])


def test_siamese_encoder_takes_the_pretrained_weights_as_they_are(rgb_weights):
    """One shot at a time: a 3-channel stem, no inflation."""
    path, sd = rgb_weights
    cfg = ModelConfig(backbone="test_resnet", pretrained_path=str(path), fusion="siamese")
    enc = build_model(cfg).encoder.state_dict()
    assert torch.equal(enc["conv1.0.weight"], sd["conv1.0.weight"])
    assert torch.equal(enc["layer2.0.conv1.weight"], sd["layer2.0.conv1.weight"])


def test_missing_pretrained_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"^--pretrained .*no such file"):
        build_model(ModelConfig(backbone="test_resnet", pretrained_path=str(tmp_path / "no")))


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize(
    "content", [b"not a torch file", pickle.dumps({"w": _Evil()})], ids=["garbage", "pickle"]
)
def test_unreadable_pretrained_file_is_an_input_error(tmp_path, content, capsys):
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"^--pretrained .*not a readable weights file"):
        build_model(ModelConfig(backbone="test_resnet", pretrained_path=str(path)))
    assert "unpickled!" not in capsys.readouterr().out


def test_pretrained_weights_of_another_model_are_an_input_error(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(timm.create_model("test_efficientnet").state_dict(), path)
    with pytest.raises(InputError, match=r"^--backbone 'test_resnet' with --pretrained"):
        build_model(ModelConfig(backbone="test_resnet", pretrained_path=str(path)))


@pytest.mark.gpu
def test_cuda_bf16_channels_last_matches_cpu():
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="test_resnet", decoder_channels=32)).eval()
    inputs = _pair(2, 32, 32)
    with torch.no_grad():
        ref = model(*inputs)
        model.cuda().to(memory_format=torch.channels_last)
        cl = [x.cuda().contiguous(memory_format=torch.channels_last) for x in inputs]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(*cl)
    assert (out["depth"].float().cpu() - ref["depth"]).abs().mean() < 0.05


# ----------------------------------------------------------------------------- hub weights

HUB_NAME = "test_resnet.r160_in1k"  # timm's default tag of test_resnet, repo timm/<HUB_NAME>


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An offline Hugging Face cache (``HF_HUB_CACHE`` layout) holding a random state dict of
    ``timm/test_resnet.r160_in1k`` as huggingface_hub would have downloaded it."""
    constants = pytest.importorskip("huggingface_hub.constants")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads the variables once, at import; set what it read as well.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    torch.manual_seed(2)
    state_dict = timm.create_model("test_resnet", pretrained=False).state_dict()
    repo = cache / f"models--timm--{HUB_NAME}"
    revision = "1" * 40
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    safetensors_torch.save_file(state_dict, snapshot / "model.safetensors")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return cache, state_dict


@pytest.mark.parametrize(
    ("backbone", "pretrained"),
    [("test_resnet", HUB_WEIGHTS), (HUB_NAME, HUB_WEIGHTS), ("test_resnet", HUB_NAME)],
    ids=["default-tag", "tagged-backbone", "name"],
)
def test_hub_weights_load_offline_from_the_cache(hf_cache, backbone, pretrained):
    _, sd = hf_cache
    model = build_model(ModelConfig(backbone=backbone, pretrained_path=pretrained))
    enc = model.encoder.state_dict()
    assert torch.allclose(enc["conv1.0.weight"], torch.cat([sd["conv1.0.weight"]] * 2, 1) / 2)
    assert torch.equal(enc["layer2.0.conv1.weight"], sd["layer2.0.conv1.weight"])


def test_hub_weights_not_in_the_cache_name_the_repo_and_how_to_get_it(hf_cache):
    cache, _ = hf_cache
    with pytest.raises(InputError) as info:
        build_model(ModelConfig(backbone="test_efficientnet", pretrained_path=HUB_WEIGHTS))
    message = str(info.value)
    assert message.startswith("--backbone 'test_efficientnet' with --pretrained 'hub': timm's")
    assert "hf download timm/test_efficientnet.r160_in1k" in message
    assert str(cache) in message and "\n" not in message


@pytest.mark.parametrize(
    ("backbone", "pretrained", "needle"),
    [
        ("test_resnet", "test_efficientnet.r160_in1k", "weights of another model"),
        ("resnet18.a1_in1k", "resnet18.tv_in1k", "weights of another model"),
        ("test_resnet", "test_resnet.nope", "Invalid pretrained tag"),
        ("resnet18.nope", HUB_WEIGHTS, "Invalid pretrained tag"),
    ],
)
def test_bad_hub_names_are_input_errors(backbone, pretrained, needle):
    with pytest.raises(InputError, match=needle):
        build_model(ModelConfig(backbone=backbone, pretrained_path=pretrained))
