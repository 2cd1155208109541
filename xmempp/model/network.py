"""The XMem network: key encoder, key projection, value encoder and decoder.

`XMemNetwork.state_dict()` has exactly the keys and shapes of an official XMem
checkpoint, so `XMem.pth` and `XMem-s012.pth` load strictly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from xmempp.model.backbone import BasicBlock, Bottleneck, make_stage
from xmempp.model.fused import FusedConv2d, conv_act, fuse_convolutions, set_conv_algorithm
from xmempp.model.modules import (
    FeatureFusionBlock,
    HiddenReinforcer,
    HiddenUpdater,
    UpsampleBlock,
    pool_quarter,
    repeat_per_object,
)
from xmempp.model.precision import Precision
from xmempp.model.winograd import ConvAlgorithm


@dataclass(frozen=True)
class NetworkDims:
    """Widths that vary between checkpoints; `hidden_dim=0` means no hidden state."""

    key_dim: int = 64
    value_dim: int = 512
    hidden_dim: int = 64


@dataclass
class KeyFeatures:
    """Key-encoder output for a batch of frames.

    key (B, Ck, h, w), shrinkage (B, 1, h, w), selection (B, Ck, h, w) at 1/16;
    f16 (B, 1024, h, w), f8 (B, 512, 2h, 2w), f4 (B, 256, 4h, 4w) skip features.
    """

    key: torch.Tensor
    shrinkage: torch.Tensor
    selection: torch.Tensor
    f16: torch.Tensor
    f8: torch.Tensor
    f4: torch.Tensor


class KeyEncoder(nn.Module):
    """ResNet-50 up to layer3; returns features at strides 16, 8 and 4."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res2 = make_stage(Bottleneck, 64, 64, 3, stride=1)
        self.layer2 = make_stage(Bottleneck, 256, 128, 4, stride=2)
        self.layer3 = make_stage(Bottleneck, 512, 256, 6, stride=2)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(conv_act(self.conv1, image, self.bn1, relu=True))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class KeyProjection(nn.Module):
    """Project 1/16 features to key, shrinkage (d^2 + 1) and selection (sigmoid)."""

    def __init__(self, in_ch: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_ch, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(in_ch, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(in_ch, key_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return conv_act(self.key_proj, x), conv_act(self.d_proj, x) ** 2 + 1, torch.sigmoid(conv_act(self.e_proj, x))


class ValueEncoder(nn.Module):
    """ResNet-18 to layer3 on image + own mask + others' mask, fused with key features."""

    def __init__(self, value_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(5, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_stage(BasicBlock, 64, 64, 2, stride=1)
        self.layer2 = make_stage(BasicBlock, 64, 128, 2, stride=2)
        self.layer3 = make_stage(BasicBlock, 128, 256, 2, stride=2)
        self.fuser = FeatureFusionBlock(1024, 256, value_dim, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden_dim) if hidden_dim > 0 else None

    def forward(
        self,
        image: torch.Tensor,
        f16: torch.Tensor,
        hidden: torch.Tensor | None,
        masks: torch.Tensor,
        deep_update: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """image (B, 3, H, W), f16 (B, 1024, h, w), hidden and result (B*K, C, h, w), masks (B, K, H, W)."""
        objects = masks.shape[1]
        others = masks.sum(dim=1, keepdim=True) - masks if objects > 1 else torch.zeros_like(masks)
        g = torch.cat(
            [repeat_per_object(image, objects), masks.flatten(0, 1).unsqueeze(1), others.flatten(0, 1).unsqueeze(1)],
            dim=1,
        )
        g = self.maxpool(conv_act(self.conv1, g, self.bn1, relu=True))
        g = self.fuser(f16, self.layer3(self.layer2(self.layer1(g))))
        if deep_update and self.hidden_reinforce is not None and hidden is not None:
            hidden = self.hidden_reinforce(g, hidden)
        return g, hidden


class Decoder(nn.Module):
    """Decode memory readout (+ hidden state) to per-object logits at full resolution."""

    def __init__(self, value_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fuser = FeatureFusionBlock(1024, value_dim + hidden_dim, 512, 512)
        self.hidden_update = HiddenUpdater((512, 256, 256 + 1), 256, hidden_dim) if hidden_dim > 0 else None
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = nn.Conv2d(256, 1, 3, padding=1)
        #: dtype the fusion of readout and key features (and so g16) runs in; None: its inputs' dtype
        self.fuser_dtype: torch.dtype | None = None

    def forward(
        self,
        f16: torch.Tensor,
        f8: torch.Tensor,
        f4: torch.Tensor,
        hidden: torch.Tensor | None,
        readout: torch.Tensor,
        update_hidden: bool,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Per-frame features (B, C, H, W); readout, hidden and results per object (B*K, C, H, W)."""
        if self.fuser_dtype is not None:
            f16, readout = f16.to(self.fuser_dtype), readout.to(self.fuser_dtype)
        if self.hidden_update is not None and hidden is not None:
            g16 = self.fuser(f16, torch.cat([readout, hidden.to(readout.dtype)], dim=1))
        else:
            g16 = self.fuser(f16, readout)
        g8 = self.up_16_8(f8, g16)
        updating = update_hidden and self.hidden_update is not None and hidden is not None
        objects = g8.shape[0] // f4.shape[0]
        if objects > 1 and g8.device.type == "cpu":
            logits, pooled = self._quarter_per_object(f4, g8, objects, updating)
        else:
            logits, pooled = self._predict(self.up_8_4(f4, g8), updating)
        if updating:
            hidden = self.hidden_update(g16, g8, pooled, hidden)
        return hidden, F.interpolate(logits.float(), scale_factor=4, mode="bilinear", align_corners=False)

    def _quarter_per_object(
        self, f4: torch.Tensor, g8: torch.Tensor, objects: int, pool: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The 1/4-scale part (the largest tensors) one object at a time, on the CPU: an object's tensors
        (27 MB each at 480p) are then reused from the heap frame after frame, where several objects'
        together get fresh pages every frame (see `reuse_freed_memory`; five objects at 480p: about 203,000
        page faults a frame batched, 2,000 this way). Returns the logits and, if `pool`, `pool_quarter`'s result."""
        projected = conv_act(self.up_8_4.skip_conv, f4)
        logits, pooled = [], []
        for index in range(g8.shape[0]):
            frame = index // objects
            g4 = self.up_8_4.with_projected_skip(projected[frame : frame + 1], g8[index : index + 1])
            one_logits, one_pooled = self._predict(g4, pool)
            logits.append(one_logits)
            pooled.append(one_pooled)
        return torch.cat(logits), torch.cat(pooled) if pool else None

    def _predict(self, g4: torch.Tensor, pool: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits at 1/4 from the last features and, if `pool`, both pooled for the hidden update."""
        logits = conv_act(self.pred, F.relu(g4))
        return logits, pool_quarter(g4, logits) if pool else None


def aggregate_objects(probs: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft aggregation of independent object probabilities into a distribution.

    Arguments:
        probs: per-object probabilities, objects along `dim`.
    Returns:
        (logits, probabilities) with the background inserted first along `dim`.
    """
    with_bg = torch.cat([torch.prod(1 - probs, dim=dim, keepdim=True), probs], dim).clamp(1e-7, 1 - 1e-7)
    logits = torch.log(with_bg / (1 - with_bg))
    return logits, torch.softmax(logits, dim=dim)


class XMemNetwork(nn.Module):
    """XMem with its three parts as separate methods: encode_key, encode_value, segment.

    `precision` is the number format it runs in (set by `load_model`; see `xmempp.model.precision`);
    `activation_dtype` the dtype of the activations inside the three parts: float32, or bfloat16 on the
    CPU's bf16 path, where the value encoder and decoder cast their inputs to it and what leaves them
    (values, logits) back to float32, and the key encoder (with its projection) runs in float32 (see
    `set_precision`); the per-frame skip features f16, f8 and f4 are cast to bf16 as they leave the key
    encoder, and the hidden state stays float32 throughout (only
    the convolutions that read it see it in bf16; see `gated_hidden_update`).
    """

    def __init__(self, dims: NetworkDims = NetworkDims()) -> None:
        super().__init__()
        self.dims = dims
        self.precision = Precision.fp32
        self.activation_dtype = torch.float32
        self.conv_algorithm = ConvAlgorithm.direct
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder(dims.value_dim, dims.hidden_dim)
        self.key_proj = KeyProjection(1024, dims.key_dim)
        self.decoder = Decoder(dims.value_dim, dims.hidden_dim)

    def set_precision(self, precision: Precision, activation_dtype: torch.dtype) -> None:
        """Run in `precision` with activations in `activation_dtype` (see the class docstring); every convolution
        becomes a `FusedConv2d` computing in that dtype, except, for bf16, the two places where the memory read
        is decided, which stay fp32: the key encoder with its projection (the keys' similarities are
        exponentiated, so a bf16 key moves the readout weights) and the decoder's fusion block (memory
        readout with the key features, at 1/16) with the 1x1 convolution reading its result. Decisive argmax
        agreement with fp32 on the real caps clip (87 frames, 480p): 99.62 % with only the fusion block in
        fp32, 99.64 % with the whole decoder, 99.65 % with the key projection alone, 99.72 % with the key
        encoder alone; 100 % with both (max |dp| 0.008)."""
        self.precision, self.activation_dtype = precision, activation_dtype
        fuse_convolutions(self, activation_dtype)
        self.decoder.fuser_dtype = None
        if activation_dtype != torch.float32:
            fuse_convolutions(self.key_encoder, torch.float32)
            fuse_convolutions(self.key_proj, torch.float32)
            self.decoder.fuser_dtype = torch.float32
            fuse_convolutions(self.decoder.fuser, torch.float32)
            if self.decoder.hidden_update is not None:
                updater = self.decoder.hidden_update
                updater.g16_conv = FusedConv2d.from_conv(updater.g16_conv, torch.float32)

    def set_conv_algorithm(self, algorithm: str | ConvAlgorithm) -> None:
        """Run the 3x3 stride-1 convolutions on the CPU (fp32) by `algorithm`: direct (oneDNN), winograd
        (F(4x4,3x3)) or auto (the fastest measured per shape; see `xmempp.model.winograd`). Call it after
        `set_precision`, which swaps the convolutions."""
        self.conv_algorithm = set_conv_algorithm(self, algorithm)

    def encode_key(self, image: torch.Tensor) -> KeyFeatures:
        """Encode normalised frames (B, 3, H, W) into key features (see KeyFeatures); the key encoder runs in
        fp32 in every precision (see `set_precision`), its skip features leave it in `activation_dtype`."""
        f16, f8, f4 = self.key_encoder(image.float())
        key, shrinkage, selection = self.key_proj(f16)
        return KeyFeatures(key, shrinkage, selection, self._in(f16), self._in(f8), self._in(f4))

    def encode_value(
        self,
        image: torch.Tensor,
        f16: torch.Tensor,
        hidden: torch.Tensor | None,
        masks: torch.Tensor,
        deep_update: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode object masks (B, K, H, W) into values (B, K, Cv, h, w), optionally updating the hidden state.

        `hidden` and the returned hidden state are (B, K, Ch, h, w) (or None without a hidden state).
        """
        batch, objects = masks.shape[:2]
        value, hidden = self.value_encoder(self._in(image), self._in(f16), _flat(hidden), self._in(masks), deep_update)
        return _grouped(self._out(value), batch, objects), _grouped(self._out(hidden), batch, objects)

    def segment(
        self, features: KeyFeatures, readout: torch.Tensor, hidden: torch.Tensor | None, update_hidden: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Decode a memory readout (B, K, Cv, h, w) with the hidden state (B, K, Ch, h, w).

        Returns:
            (new hidden state, aggregated logits (B, 1+K, H, W), probabilities (B, 1+K, H, W)).
        """
        batch, objects = readout.shape[:2]
        readout = self._in(readout.flatten(0, 1)).contiguous(memory_format=torch.channels_last)
        hidden, logits = self.decoder(
            self._in(features.f16), self._in(features.f8), self._in(features.f4), _flat(hidden), readout, update_hidden
        )
        logits = logits.view(batch, objects, *logits.shape[-2:])
        agg_logits, probs = aggregate_objects(torch.sigmoid(logits), dim=1)
        return _grouped(self._out(hidden), batch, objects), agg_logits, probs

    def _in(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """An input of a network part in `activation_dtype` (itself when it has that dtype)."""
        return None if x is None else x.to(self.activation_dtype)

    def _out(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """A result leaving the network: float32 where the parts ran in another `activation_dtype` (under CUDA
        autocast, `activation_dtype` is float32 and results keep autocast's dtype)."""
        return x if x is None or self.activation_dtype == torch.float32 else x.float()


def _flat(x: torch.Tensor | None) -> torch.Tensor | None:
    """A hidden state (B, K, C, h, w) as a fresh channels-last (B*K, C, h, w) tensor (small).

    Like the features it is concatenated with: a concatenation of mixed layouts comes out NCHW and
    every convolution reading it copies it back. A fresh copy, since views of it can carry strides
    that `contiguous` accepts as channels-last but the concatenation does not.
    """
    return None if x is None else x.flatten(0, 1).clone(memory_format=torch.channels_last)


def _grouped(x: torch.Tensor | None, batch: int, objects: int) -> torch.Tensor | None:
    return None if x is None else x.view(batch, objects, *x.shape[1:])
