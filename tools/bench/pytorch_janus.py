#!/usr/bin/env python3
"""PyTorch baseline for bench/cuda/bench_janus.cpp: Janus-Pro text-to-image generation written the way the
official generation script does it (models.md §7.5) — a transformers Llama language model fed input
embeddings with its KV cache, the generation head on the last hidden state, classifier-free guidance over
2×16 rows, softmax and multinomial, gen_aligner(gen_embed(token)) fed back — then the VQ-16 decoder (§7.6)
on the 16 images. Random bf16 weights at the Janus-Pro-7B and -1B shapes on the same GPU. Prints JSON lines
like the C++ benchmark."""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import transformers
from transformers import LlamaConfig, LlamaModel

SHAPES = {
    "janus-pro-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=30, num_attention_heads=32),
    "janus-pro-1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=24, num_attention_heads=16),
}


class Mlp(nn.Module):
    """MlpProjector mlp_gelu depth 2 and the vision head share this shape: Linear → GELU → Linear."""

    def __init__(self, n_in, n_mid, n_out):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_mid)
        self.fc2 = nn.Linear(n_mid, n_out)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(32, cout, eps=1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nin = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin(x) if self.nin is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(32, c, eps=1e-6)
        self.q, self.k, self.v, self.proj = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).permute(0, 2, 1)
        k = self.k(n).reshape(b, c, h * w)
        att = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)
        o = torch.bmm(self.v(n).reshape(b, c, h * w), att.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj(o)


class VqDecoder(nn.Module):
    """VQ-16 decoder: codebook (L2-normalised) → post_quant_conv → conv_in → mid → 5 stages → out."""

    def __init__(self):
        super().__init__()
        self.codebook = nn.Embedding(16384, 8)
        self.post_quant = nn.Conv2d(8, 256, 1)
        self.conv_in = nn.Conv2d(256, 512, 3, padding=1)
        self.mid = nn.Sequential(ResBlock(512, 512), AttnBlock(512), ResBlock(512, 512))
        stages, cin = [], 512
        for s, c in enumerate((512, 256, 256, 128, 128)):
            layers = []
            for _ in range(3):
                layers.append(ResBlock(cin, c))
                cin = c
                if s == 0:
                    layers.append(AttnBlock(c))
            if s < 4:
                layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.norm_out = nn.GroupNorm(32, 128, eps=1e-6)
        self.conv_out = nn.Conv2d(128, 3, 3, padding=1)

    def forward(self, codes, side):
        z = F.normalize(self.codebook(codes), dim=-1)  # [P, side², 8]
        z = z.permute(0, 2, 1).reshape(codes.shape[0], 8, side, side)
        h = self.stages(self.mid(self.conv_in(self.post_quant(z))))
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=list(SHAPES))
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=576)
    ap.add_argument("--prompt", type=int, default=40)
    args = ap.parse_args()
    print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                      "device": torch.cuda.get_device_name(0)}), flush=True)
    P, N, T = args.images, args.tokens, args.prompt
    torch.manual_seed(0)
    with torch.device("cuda"):
        vq = VqDecoder().to(torch.bfloat16).eval()
    for name in args.models:
        kw = SHAPES[name]
        D = kw["hidden_size"]
        cfg = LlamaConfig(**kw, num_key_value_heads=kw["num_attention_heads"], vocab_size=102400,
                          max_position_embeddings=16384, rms_norm_eps=1e-6)
        with torch.device("cuda"):
            lm = LlamaModel(cfg).to(torch.bfloat16).eval()
            gen_embed = nn.Embedding(16384, 8).to(torch.bfloat16)
            gen_aligner = Mlp(8, D, D).to(torch.bfloat16)
            gen_head = Mlp(D, D, 16384).to(torch.bfloat16)
        ids = torch.randint(0, 100000, (T,), device="cuda")
        tokens = ids.repeat(2 * P, 1)
        tokens[1::2, 1:-1] = 100002  # unconditional rows: the text replaced by the pad id

        def generate():
            with torch.no_grad():
                embeds = lm.embed_tokens(tokens)
                out_tokens = torch.zeros((P, N), dtype=torch.int, device="cuda")
                past = None
                for i in range(N):
                    out = lm(inputs_embeds=embeds, use_cache=True, past_key_values=past)
                    past = out.past_key_values
                    logits = gen_head(out.last_hidden_state[:, -1, :])
                    cond, uncond = logits[0::2, :], logits[1::2, :]
                    logits = uncond + 5.0 * (cond - uncond)
                    probs = torch.softmax(logits / 1.0, dim=-1)
                    nxt = torch.multinomial(probs, num_samples=1)
                    out_tokens[:, i] = nxt.squeeze(dim=-1)
                    nxt = torch.cat([nxt, nxt], dim=1).view(-1)
                    embeds = gen_aligner(gen_embed(nxt)).unsqueeze(dim=1)
                return out_tokens

        def decode(codes):
            with torch.no_grad():
                return vq(codes, int(round(N ** 0.5))).float()

        generate()  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        codes = generate()
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        decode(codes[:1])
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        decode(codes)
        torch.cuda.synchronize()
        t3 = time.perf_counter()
        print(json.dumps({"model": name, "impl": "pytorch", "test": "generate", "images": P, "image_tokens": N,
                          "prompt_tokens": T, "token_loop_s": round(t1 - t0, 3),
                          "step_ms": round((t1 - t0) * 1e3 / N, 3), "vq_decode_s": round(t3 - t2, 4),
                          "total_s": round(t1 - t0 + t3 - t2, 3)}), flush=True)
        del lm, gen_embed, gen_aligner, gen_head
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
