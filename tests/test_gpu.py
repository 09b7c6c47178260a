"""The GPU paths a practitioner uses, run on a real CUDA device (skipped where there is none).

The CPU tests exercise the same code paths in their CPU form (bf16 autocast, `torch.compile`, the GradScaler's
bookkeeping, SDPA); these check what only a GPU shows: every tensor follows the model to the device, the fused AdamW
and float16 GradScaler really run, flash/efficient SDPA in bfloat16 agrees with float32, and the cached, batched and
exported paths give the tokens they give on the CPU. Run with `python -m pytest -q tests/test_gpu.py` on a machine
with CUDA (about a minute on one GPU).
"""
import copy
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')

from llm_nb.core import seed_everything
from llm_nb.transformer import GPT, GPTConfig
from llm_nb.training import TrainConfig, Trainer
from llm_nb.generation import generate

LLAMA = dict(vocab_size=64, block_size=64, n_layer=2, n_head=4, n_kv_head=2, n_embd=64, bias=False, norm='rmsnorm',
             mlp='swiglu', pos='rope', tie_embeddings=False)
GPT2 = dict(vocab_size=64, block_size=64, n_layer=2, n_head=4, n_embd=64)

def tiny(kind=LLAMA, seed=0):
    "A small random GPT on the CPU (float32)."
    seed_everything(seed)
    return GPT(GPTConfig(**kind)).eval()

def train(data, dtype, compile=False, steps=60, **kw):
    "Train a tiny GPT on `data` on the GPU; return the trainer and its history."
    seed_everything(0)
    model = GPT(GPTConfig(**{**LLAMA, 'vocab_size': data.vocab_size}))
    cfg = TrainConfig(max_steps=steps, batch_size=16, block_size=32, lr=3e-3, warmup_steps=5, eval_interval=steps,
                      eval_windows=16, eval_batch_size=8, log_interval=1, dtype=dtype, compile=compile, device='cuda', **kw)
    tr = Trainer(model, data, cfg, progress=False)
    return tr, tr.fit()

@pytest.mark.parametrize('dtype,compile', [('bfloat16', False), ('bfloat16', True), ('float16', False), ('float32', False)])
def test_training_on_cuda(synthetic_lm, dtype, compile):
    "Each precision (bf16 autocast, fp16 with a GradScaler, fp32), eager and compiled: the model learns, on the GPU, with fused AdamW."
    tr, hist = train(synthetic_lm(V=13, n=6000), dtype, compile)
    losses = [l for _, l in hist['train']]
    assert all(p.is_cuda for p in tr.model.parameters())
    assert tr.opt.defaults.get('fused'), 'AdamW is fused on CUDA by default'
    assert tr.scaler.is_enabled() == (dtype == 'float16')
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:5]) / 5, losses
    assert hist['val'] and hist['val'][-1][1] < 2.0                   # ln 13 = 2.56: it learned the t -> t+1 rule

def test_sdpa_bf16_matches_float32():
    "SDPA's flash/efficient kernels in bfloat16 on the GPU give the float32 CPU logits within bf16 rounding."
    model = tiny()
    x = torch.randint(0, 64, (4, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x)
        gpu = copy.deepcopy(model).cuda()
        with torch.autocast('cuda', dtype=torch.bfloat16): got = gpu(x.cuda()).float().cpu()
        f32 = gpu(x.cuda()).cpu()
    torch.testing.assert_close(f32, ref, atol=1e-4, rtol=1e-4)
    assert (got - ref).abs().max() < 0.1 * ref.abs().max()

@pytest.mark.parametrize('kind', [LLAMA, GPT2])
def test_generation_on_cuda(kind):
    "Greedy decoding on the GPU: with and without the KV cache, batched and left-padded, the CPU's tokens."
    model = tiny(kind)
    prompts = [[1, 2, 3], [5, 6, 7, 8, 9, 10], [11]]
    cpu = [generate(model, p, 20, temperature=0)[0].tolist() for p in prompts]
    gpu = model.cuda()
    for use_cache in (True, False):
        got = [generate(gpu, p, 20, temperature=0, use_cache=use_cache)[0].tolist() for p in prompts]
        assert got == cpu
    out = generate(gpu, prompts, 20, temperature=0)                    # one left-padded batch
    assert out.is_cuda
    for row, ref, p in zip(out.tolist(), cpu, prompts): assert row[-20:] == ref[len(p):]
    s = generate(gpu, prompts[0], 20, temperature=1.0, top_p=0.9, generator=torch.Generator('cuda').manual_seed(0))
    assert s.shape == (1, 23) and s.is_cuda

def test_engine_on_cuda():
    "Continuous batching with the slot KV cache on the GPU gives the tokens of one-at-a-time greedy decoding."
    from llm_nb.engine import Engine, Sequence, SamplingParams
    model = tiny().cuda()
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10], [11, 12], [13, 14, 15]]
    ref = [generate(model, p, 8 + 2 * i, temperature=0)[0, len(p):].tolist() for i, p in enumerate(prompts)]
    engine = Engine(model, max_batch=3)
    try:
        seqs = [engine.submit([Sequence(p, SamplingParams(max_tokens=8 + 2 * i, temperature=0))])[0] for i, p in enumerate(prompts)]
        for s, r in zip(seqs, ref):
            s.result(60)
            assert s.tokens == r
    finally: engine.shutdown()

@pytest.mark.parametrize('arch', ['llama', 'gpt2'])
def test_gguf_model_on_cuda(tmp_path, arch):
    "A model exported to GGUF, read back and moved to the GPU computes the CPU's logits."
    from llm_nb.pretrained import export_gguf, gpt_from_gguf
    model = tiny(LLAMA if arch == 'llama' else GPT2)
    path = export_gguf(model, tmp_path/'m.gguf')
    x = torch.randint(0, 64, (2, 32), generator=torch.Generator().manual_seed(1))
    back = gpt_from_gguf(path).eval().cuda()
    with torch.no_grad(): torch.testing.assert_close(back(x.cuda()).cpu(), model(x), atol=1e-4, rtol=1e-4)

@pytest.mark.parametrize('scheme', ['q8_0', 'int8', 'q4_0'])
def test_quantized_model_on_cuda(scheme):
    "A weight-only quantized model runs on the GPU and gives the logits of the same quantized model on the CPU."
    from llm_nb.quantize import quantize_model
    model = tiny()
    x = torch.randint(0, 64, (2, 32), generator=torch.Generator().manual_seed(2))
    q_cpu = quantize_model(copy.deepcopy(model), scheme)
    q_gpu = quantize_model(copy.deepcopy(model).cuda(), scheme)
    with torch.no_grad():
        a, b = q_cpu(x), q_gpu(x.cuda()).cpu()
    torch.testing.assert_close(b, a, atol=2e-3, rtol=2e-3)
    assert generate(q_gpu, [1, 2, 3], 5, temperature=0).is_cuda

def test_lora_on_cuda(synthetic_lm):
    "LoRA fine-tuning on the GPU: only the adapters move; merged weights give the unmerged logits."
    from llm_nb.finetuning import apply_lora, merge_lora, unmerge_lora
    data = synthetic_lm(V=13, n=4000)
    seed_everything(0)
    model = apply_lora(GPT(GPTConfig(**{**LLAMA, 'vocab_size': 13})).cuda(), ['q_proj', 'v_proj'], r=4, alpha=8)
    assert all(p.is_cuda for p in model.parameters())                 # adapters are made beside the layers they adapt
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    cfg = TrainConfig(max_steps=10, batch_size=8, block_size=32, lr=1e-2, warmup_steps=0, eval_interval=10, eval_windows=4,
                      eval_batch_size=4, dtype='bfloat16', device='cuda')
    Trainer(model, data, cfg, progress=False).fit()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in before)
    x = torch.randint(0, 13, (2, 32), device='cuda')
    with torch.no_grad():
        model.eval(); a = model(x); merge_lora(model); b = model(x); unmerge_lora(model); c = model(x)
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4); torch.testing.assert_close(c, a, atol=1e-4, rtol=1e-4)

def test_classifier_on_cuda():
    "A classification head wrapped around a model already on the GPU is made there too."
    from llm_nb.finetuning import SequenceClassifier, apply_lora
    clf = SequenceClassifier(tiny().cuda(), 2)
    apply_lora(clf.backbone, ['q_proj', 'v_proj'], r=4, alpha=8)
    ids, mask = torch.randint(0, 64, (3, 10), device='cuda'), torch.ones(3, 10, dtype=torch.long, device='cuda')
    assert clf(ids, mask).shape == (3, 2)

def test_sequence_scores_on_cuda():
    "Scoring helpers take a model on the GPU and CPU batches (log-probabilities, preference margins)."
    from llm_nb.finetuning import sft_collate, sequence_logprobs
    from llm_nb.training import to_device
    model = tiny()
    batch = sft_collate([([1, 2, 3, 4, 5], 2), ([6, 7, 8], 1)], 0)
    ref = sequence_logprobs(model, batch)
    got = sequence_logprobs(model.cuda(), to_device(batch, 'cuda')).cpu()
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
