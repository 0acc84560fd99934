"""TubeNet: architecture of the paper, any input size, anisotropic pools, attention, fine-tuning."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bbbcore.vessels.model import TubeNet


def _rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g)


def _tiny(**kw):
    torch.manual_seed(0)
    return TubeNet(**{"width": 4, "depth": 3, "dropout": 0.0, **kw})


# --------------------------------------------------------------------------------------------
# architecture


def test_paper_preset_structure():
    with torch.device("meta"):
        net = TubeNet.paper()
    assert net.channels == (32, 64, 128, 256, 512, 1024)
    assert net.pools == ((2, 2, 2),) * 5 and net.size_multiple == (32, 32, 32)
    assert len(net.encoder_levels) == 6 and len(net.decoder_levels) == 5
    for level in list(net.encoder_levels) + list(net.decoder_levels):
        kinds = [type(m) for m in level]
        assert kinds == [nn.Conv3d, nn.LeakyReLU, nn.GroupNorm, nn.Conv3d, nn.LeakyReLU,
                         nn.GroupNorm, nn.Dropout]
        assert level[0].kernel_size == (3, 3, 3) and level[3].kernel_size == (3, 3, 3)
        assert level[1].negative_slope == 0.2 and level[6].p == 0.3
    for i, up in enumerate(net.upsample):
        assert isinstance(up, nn.ConvTranspose3d)
        assert up.kernel_size == up.stride == (2, 2, 2)
        assert up.in_channels == net.channels[i + 1] and up.out_channels == net.channels[i]
    # decoder blocks take the concatenation [skip, upsampled]
    assert [d[0].in_channels for d in net.decoder_levels] == [2 * c for c in net.channels[:-1]]
    assert net.head.kernel_size == (1, 1, 1) and net.head.out_channels == 1
    assert net.attention_gates is None


def test_compact_preset_size():
    with torch.device("meta"):
        net = TubeNet.compact()
    assert net.channels == (16, 32, 64, 128)
    assert 1_000_000 < net.num_parameters() < 2_000_000          # a few MB in float32


def test_num_parameters_hand_count():
    net = TubeNet(depth=2, width=2, groups=8)
    # level 0: conv 1→2 (27·2+2) + conv 2→2 (27·4+2) + 2 GroupNorms (2·2 each)
    enc0 = 56 + 110 + 8
    # level 1: conv 2→4 (27·8+4) + conv 4→4 (27·16+4) + 2 GroupNorms (2·4 each)
    enc1 = 220 + 436 + 16
    up = 8 * 4 * 2 + 2                     # ConvTranspose3d 4→2, kernel 2³
    dec0 = 27 * 4 * 2 + 2 + 110 + 8        # conv 4→2, conv 2→2, 2 GroupNorms
    head = 2 + 1
    assert net.num_parameters() == enc0 + enc1 + up + dec0 + head == 1251


def test_widths_groups_and_max_width():
    net = TubeNet(width=12, depth=4, max_width=40, groups=8)
    assert net.channels == (12, 24, 40, 40)
    # GroupNorm groups: min(8, C) lowered to a divisor of C
    assert [lvl[2].num_groups for lvl in net.encoder_levels] == [6, 8, 8, 8]
    assert TubeNet(width=4, depth=2).encoder_levels[0][2].num_groups == 4


# --------------------------------------------------------------------------------------------
# shapes, padding, pools


@pytest.mark.parametrize("kw", [
    {},
    {"attention": True},
    {"pool": (1, 2, 2)},
    {"pool": [(1, 2, 2), (2, 2, 2)], "attention": True},
    {"out_channels": 3, "in_channels": 2},
])
def test_output_shape_any_size(kw):
    net = _tiny(**kw).eval()
    x = _rand(1, net.in_channels, 17, 33, 29)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (1, net.out_channels, 17, 33, 29)
    assert torch.isfinite(y).all()


def test_output_shape_on_device(device):
    net = _tiny(pool=[(1, 2, 2), (1, 2, 2)], attention=True).to(device).eval()
    with torch.no_grad():
        y = net(_rand(1, 1, 3, 13, 10).to(device))
    assert y.shape == (1, 1, 3, 13, 10)


def test_anisotropic_pools_downsample_only_chosen_axes():
    net = _tiny(pool=[(1, 2, 2), (1, 2, 2)])
    assert net.size_multiple == (1, 4, 4)
    shapes = []
    hook = net.encoder_levels[2].register_forward_hook(lambda m, i, o: shapes.append(o.shape))
    with torch.no_grad():
        net.eval()(_rand(1, 1, 5, 16, 12))
    hook.remove()
    assert shapes == [(1, 16, 5, 4, 3)]           # Z untouched, Y and X / 4


def test_padding_replicates_edges_and_crops_back():
    """forward(x) equals running the net on a hand-padded (edge-replicated) x and cropping."""
    net = _tiny().eval()                            # size_multiple (4, 4, 4)
    x = _rand(1, 1, 6, 8, 5, seed=3)                # pad Z by 1+1, X by 1+2
    zp = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
    xp = torch.cat([zp[..., :1], zp, zp[..., -1:], zp[..., -1:]], dim=4)
    assert xp.shape == (1, 1, 8, 8, 8)
    with torch.no_grad():
        ref = net(xp)[:, :, 1:7, :, 1:6]
        out = net(x)
    torch.testing.assert_close(out, ref)


def test_multiple_size_input_is_not_padded():
    net = _tiny().eval()
    x = _rand(1, 1, 8, 4, 12)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape


def test_pools_for_spacing_nnunet_rule():
    assert TubeNet.pools_for_spacing((5, 1, 1), 4) == [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
    assert TubeNet.pools_for_spacing((1.0, 1.0, 1.0), 3) == [(2, 2, 2), (2, 2, 2)]
    assert TubeNet.pools_for_spacing((1.0, 1.5, 3.0), 3) == [(2, 2, 1), (2, 2, 2)]
    net = TubeNet(depth=4, width=2, pool=TubeNet.pools_for_spacing((5, 1, 1), 4))
    assert net.size_multiple == (2, 8, 8)
    with pytest.raises(ValueError, match=r"pools_for_spacing: voxel_size_um must be a \(Z, Y, X\)"):
        TubeNet.pools_for_spacing((1.0, 0.0, 1.0), 3)
    with pytest.raises(ValueError, match="pools_for_spacing: depth must be an integer >= 2"):
        TubeNet.pools_for_spacing((1, 1, 1), 1)


# --------------------------------------------------------------------------------------------
# attention


def test_attention_gate_open_equals_plain_net():
    """With α ≡ 1 the attention net is the plain net; with α ≡ 0 the upsampled path is cut."""
    plain = _tiny().eval()
    att = _tiny(attention=True).eval()
    missing, unexpected = att.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("attention_gates.") for k in missing)
    x = _rand(1, 1, 8, 12, 8, seed=5)
    with torch.no_grad():
        for gate in att.attention_gates:
            gate.score.weight.zero_()
            gate.score.bias.fill_(60.0)             # sigmoid → 1
        torch.testing.assert_close(att(x), plain(x))
        for gate in att.attention_gates:
            gate.score.bias.fill_(-60.0)            # sigmoid → 0
        for up in plain.upsample:
            up.weight.zero_()
            up.bias.zero_()
        torch.testing.assert_close(att(x), plain(x))


def test_attention_map_combines_encoder_and_decoder():
    """α depends on both inputs through the product of the two 3×3×3 convolutions."""
    att = _tiny(attention=True).eval()
    gate = att.attention_gates[0]
    enc, dec = _rand(1, 4, 4, 4, 4, seed=1), _rand(1, 4, 4, 4, 4, seed=2)
    with torch.no_grad():
        a = gate.attention_map(enc, dec)
        ref = torch.sigmoid(F.conv3d(gate.query(enc) * gate.key(dec), gate.score.weight,
                                     gate.score.bias))
        assert a.shape == (1, 1, 4, 4, 4) and ((a > 0) & (a < 1)).all()
        torch.testing.assert_close(a, ref)
        torch.testing.assert_close(gate(enc, dec), dec * a)
        assert not torch.allclose(gate.attention_map(enc, 2 * dec), a)
        assert not torch.allclose(gate.attention_map(2 * enc, dec), a)


# --------------------------------------------------------------------------------------------
# training-related


@pytest.mark.parametrize("attention", [False, True])
def test_gradient_reaches_every_parameter(attention):
    net = _tiny(attention=attention, pool=[(1, 2, 2), (2, 2, 2)])
    x = _rand(2, 1, 6, 12, 10, seed=1)
    target = (_rand(2, 1, 6, 12, 10, seed=2) > 0.7).float()
    F.binary_cross_entropy_with_logits(net(x), target).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_dropout_active_only_in_training():
    net = _tiny(dropout=0.3)
    x = _rand(1, 1, 8, 8, 8)
    torch.manual_seed(1)
    a = net.train()(x)
    b = net(x)
    assert not torch.allclose(a, b)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), net(x))


@pytest.mark.parametrize("kw", [{}, {"attention": True, "pool": [(1, 2, 2), (2, 2, 2)],
                                     "out_channels": 2, "max_width": 6, "negative_slope": 0.1}])
def test_config_round_trip(kw):
    net = _tiny(**kw).eval()
    cfg = json.loads(json.dumps(net.config))
    assert cfg["class"] == "TubeNet" and cfg["version"] == 1
    torch.manual_seed(123)                          # a different initialisation …
    clone = TubeNet.from_config(cfg).eval()
    x = _rand(1, 1, 7, 9, 11)
    with torch.no_grad():
        assert not torch.allclose(clone(x), net(x))
        clone.load_state_dict(net.state_dict())     # … and the same weights
        torch.testing.assert_close(clone(x), net(x), rtol=0, atol=0)
    assert clone.config == net.config


def test_from_config_rejects_other_configs():
    cfg = _tiny().config
    with pytest.raises(ValueError, match=r"from_config: cfg\['class'\] must be 'TubeNet'"):
        TubeNet.from_config({**cfg, "class": "UNet"})
    with pytest.raises(ValueError, match=r"from_config: cfg\['version'\] must be an integer in"):
        TubeNet.from_config({**cfg, "version": 2})
    with pytest.raises(ValueError, match=r"from_config: cfg must be keys among .*\['bogus'\]"):
        TubeNet.from_config({**cfg, "bogus": 1})


def test_freeze_encoder_levels():
    net = _tiny()
    x = _rand(1, 1, 8, 8, 8)
    target = (_rand(1, 1, 8, 8, 8, seed=9) > 0.5).float()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    F.binary_cross_entropy_with_logits(net(x), target).backward()   # stale gradients everywhere

    frozen_ids = {id(p) for i in (0, 2) for p in net.encoder_levels[i].parameters()}
    n = net.freeze_encoder([0, 2])
    assert n == sum(p.numel() for i in (0, 2) for p in net.encoder_levels[i].parameters())
    for p in net.parameters():
        assert p.requires_grad == (id(p) not in frozen_ids)
    assert net.num_parameters(trainable_only=True) == net.num_parameters() - n

    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    opt.step()                                       # stale grads of frozen levels were cleared
    opt.zero_grad()
    F.binary_cross_entropy_with_logits(net(x), target).backward()
    opt.step()
    for name, p in net.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == (id(p) not in frozen_ids), name

    net.unfreeze()
    assert all(p.requires_grad for p in net.parameters())
    assert net.freeze_encoder(2) == sum(p.numel() for i in (0, 1)
                                        for p in net.encoder_levels[i].parameters())
    assert not any(p.requires_grad for p in net.encoder_levels[1].parameters())
    assert all(p.requires_grad for p in net.encoder_levels[2].parameters())
    assert net.freeze_encoder(0) == 0


def test_freeze_encoder_bad_levels():
    net = _tiny()
    with pytest.raises(ValueError, match=r"freeze_encoder: levels must be an integer in \[0, 3\]"):
        net.freeze_encoder(4)
    with pytest.raises(ValueError, match=r"freeze_encoder: levels must be level indices in \[0, 3\)"):
        net.freeze_encoder([0, 3])


def test_vessel_probability_sigmoid_equals_two_class_softmax():
    z = torch.linspace(-5, 5, 11).view(1, 1, 1, 1, 11)
    two = torch.cat([torch.zeros_like(z), z], dim=1)
    torch.testing.assert_close(TubeNet.vessel_probability(two), torch.sigmoid(z))
    torch.testing.assert_close(TubeNet.vessel_probability(z), torch.sigmoid(z))


# --------------------------------------------------------------------------------------------
# errors


def test_bad_input():
    net = _tiny()
    with pytest.raises(ValueError, match=r"TubeNet.forward: x must be a 5-D tensor \(B, C, Z, Y, X\), "
                                         r"got shape \(8, 8, 8\)"):
        net(torch.rand(8, 8, 8))
    with pytest.raises(ValueError, match=r"TubeNet.forward: x must be \(B, 1, Z, Y, X\) with "
                                         r"in_channels=1 on axis 1, got shape \(1, 2, 4, 4, 4\)"):
        net(torch.rand(1, 2, 4, 4, 4))
    with pytest.raises(ValueError, match="TubeNet.forward: x must be a floating-point tensor, "
                                         "got torch.int64"):
        net(torch.ones(1, 1, 4, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="TubeNet.forward: x must be of the model's dtype "
                                         "torch.float32"):
        net(torch.rand(1, 1, 4, 4, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="TubeNet.forward: x must be a torch.Tensor"):
        net([[1.0]])


@pytest.mark.parametrize("kw, match", [
    ({"depth": 1}, "TubeNet: depth must be an integer >= 2, got 1"),
    ({"width": 0}, "TubeNet: width must be an integer >= 1, got 0"),
    ({"dropout": 1.0}, r"TubeNet: dropout must be a number in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, r"TubeNet: dropout must be a number in \[0, 1\), got -0.1"),
    ({"pool": [(1, 2, 2)]}, (r"TubeNet: pool must be a sequence of depth-1 = 3 \(pz, py, px\) "
                             r"triples, got 1 triples")),
    ({"pool": (1, 2)}, r"TubeNet: pool must be an integer >= 1, a \(pz, py, px\) triple"),
    ({"pool": 0}, "TubeNet: pool must be an integer >= 1"),
    ({"pool": [(1, 2, 2), (2, 0, 2), (2, 2, 2)]}, "TubeNet: pool must be an integer >= 1"),
    ({"groups": 0}, "TubeNet: groups must be an integer >= 1, got 0"),
    ({"max_width": 0}, "TubeNet: max_width must be an integer >= 1, got 0"),
    ({"negative_slope": -1}, "TubeNet: negative_slope must be a finite number >= 0, got -1"),
    ({"attention": 1}, "TubeNet: attention must be a bool, got 1"),
    ({"in_channels": 0}, "TubeNet: in_channels must be an integer >= 1, got 0"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        TubeNet(**{"depth": 4, "width": 2, **kw})
