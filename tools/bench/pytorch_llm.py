#!/usr/bin/env python3
"""PyTorch + transformers baseline for bench/cuda/bench_llm.cpp: the same model shapes with random bf16
weights on the same GPU, prefill of 512/2048 tokens and decode at batch 1/16/32 after 1k tokens of context,
eager generate and static-cache generate. Prints JSON lines like the C++ benchmark."""
import argparse
import json
import time

import torch
import transformers
from transformers import LlamaConfig, Qwen2Config, AutoModelForCausalLM

SHAPES = {
    "deepseek-llm-7b-chat": (LlamaConfig, dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=30,
                                               num_attention_heads=32, num_key_value_heads=32, vocab_size=102400)),
    "r1-distill-qwen-1.5b": (Qwen2Config, dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                               num_attention_heads=12, num_key_value_heads=2, vocab_size=151936)),
    "r1-distill-qwen-7b": (Qwen2Config, dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                             num_attention_heads=28, num_key_value_heads=4, vocab_size=152064)),
}


def timed(fn, repeat):
    times = []
    for i in range(repeat + 1):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        if i:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=list(SHAPES))
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--static-batches", default="1")
    args = ap.parse_args()
    print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                      "device": torch.cuda.get_device_name(0)}), flush=True)
    for name in args.models:
        cls, kw = SHAPES[name]
        cfg = cls(**kw, max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=False)
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
        model.eval()
        with torch.no_grad():
            for T in (512, 2048):
                ids = torch.randint(0, kw["vocab_size"], (1, T), device="cuda")
                ms = timed(lambda: model(ids, use_cache=True, logits_to_keep=1), 5)
                print(json.dumps({"model": name, "impl": "pytorch", "test": "prefill", "tokens": T, "ms": round(ms, 3)}),
                      flush=True)
            for B in (1, 16, 32):
                ids = torch.randint(0, kw["vocab_size"], (B, args.context), device="cuda")
                mask = torch.ones_like(ids)
                modes = ["eager"] + (["static"] if str(B) in args.static_batches.split(",") else [])
                for mode in modes:
                    extra = {"cache_implementation": "static"} if mode == "static" else {}

                    def gen(n):
                        return model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                              do_sample=False, pad_token_id=0, **extra)
                    gen(args.new)  # warm-up (and compilation for the static cache)
                    t_prefill = timed(lambda: gen(1), 2)
                    t_full = timed(lambda: gen(args.new + 1), 2)
                    step = (t_full - t_prefill) / args.new
                    print(json.dumps({"model": name, "impl": "pytorch-" + mode, "test": "decode", "batch": B,
                                      "context": args.context, "step_ms": round(step, 3),
                                      "tok_s": round(B * 1e3 / step, 1)}), flush=True)
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
