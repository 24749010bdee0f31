#!/usr/bin/env python3
"""Write a tiny random-weight Whisper model in faster-whisper's CTranslate2 layout, shaped like
large-v3 (128 Mel bins, vocabulary 51866 with the <|yue|> language token) but 2 + 2 layers of
width 64: model.bin (CTranslate2 binary version 6, WhisperSpec, float16 weights, one alias
decoder/projection/weight -> decoder/embeddings/weight, as ctranslate2's converter writes it),
config.json, tokenizer.json, vocabulary.json and preprocessor_config.json. The weights are
random (seeded): the model's output means nothing, only its shapes are real.

Usage: make_tiny_ct2_whisper.py --out DIR --base-tokenizer BASE/tokenizer.json
The tokenizer is large-v3's, derived from a multilingual (51865) tokenizer.json by inserting
<|yue|> after the 99 languages of the older models (every later special token moves up by one).
Needs numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import struct

import numpy as np

D, HEADS, FFN, LAYERS, N_MELS, VOCAB = 64, 1, 128, 2, 128, 51866
N_AUDIO_CTX, N_TEXT_CTX = 1500, 448
YUE_ID = 50358  # the 100th language token of large-v3 (sot 50258 + 100)

F32, I8, F16 = 0, 1, 4


def _string(s: str) -> bytes:
    raw = s.encode('utf-8') + b'\0'
    return struct.pack('<H', len(raw)) + raw


def write_model_bin(path: str, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    out = [struct.pack('<I', 6), _string('WhisperSpec'), struct.pack('<I', 3), struct.pack('<I', len(variables))]
    for name, arr in variables.items():
        dtype = {np.dtype('<f4'): F32, np.dtype('i1'): I8, np.dtype('<f2'): F16}[arr.dtype]
        data = np.ascontiguousarray(arr).tobytes()
        out += [_string(name), struct.pack('<B', arr.ndim), *(struct.pack('<I', d) for d in arr.shape),
                struct.pack('<B', dtype), struct.pack('<I', len(data)), data]
    out.append(struct.pack('<I', len(aliases)))
    for alias, target in aliases.items():
        out += [_string(alias), _string(target)]
    with open(path, 'wb') as f:
        f.write(b''.join(out))


def weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    v: dict[str, np.ndarray] = {}

    def w(name: str, *shape: int, std: float = 0.02) -> None:
        v[name] = (rng.standard_normal(shape) * std).astype('<f2')

    def ln(prefix: str) -> None:
        v[f'{prefix}/gamma'] = np.ones(D, dtype='<f2')
        v[f'{prefix}/beta'] = np.zeros(D, dtype='<f2')

    def self_attention(prefix: str) -> None:
        ln(f'{prefix}/self_attention/layer_norm')
        w(f'{prefix}/self_attention/linear_0/weight', 3 * D, D)
        w(f'{prefix}/self_attention/linear_0/bias', 3 * D)
        w(f'{prefix}/self_attention/linear_1/weight', D, D)
        w(f'{prefix}/self_attention/linear_1/bias', D)

    def ffn(prefix: str) -> None:
        ln(f'{prefix}/ffn/layer_norm')
        w(f'{prefix}/ffn/linear_0/weight', FFN, D)
        w(f'{prefix}/ffn/linear_0/bias', FFN)
        w(f'{prefix}/ffn/linear_1/weight', D, FFN)
        w(f'{prefix}/ffn/linear_1/bias', D)

    w('encoder/conv1/weight', D, N_MELS, 3)
    w('encoder/conv1/bias', D)
    w('encoder/conv2/weight', D, D, 3)
    w('encoder/conv2/bias', D)
    w('encoder/position_encodings/encodings', N_AUDIO_CTX, D)
    for i in range(LAYERS):
        p = f'encoder/layer_{i}'
        self_attention(p)
        ffn(p)
    ln('encoder/layer_norm')
    v['encoder/num_heads'] = np.array(HEADS, dtype='i1')

    w('decoder/embeddings/weight', VOCAB, D)
    w('decoder/position_encodings/encodings', N_TEXT_CTX, D)
    for i in range(LAYERS):
        p = f'decoder/layer_{i}'
        self_attention(p)
        ln(f'{p}/attention/layer_norm')
        w(f'{p}/attention/linear_0/weight', D, D)
        w(f'{p}/attention/linear_0/bias', D)
        w(f'{p}/attention/linear_1/weight', 2 * D, D)
        w(f'{p}/attention/linear_1/bias', 2 * D)
        w(f'{p}/attention/linear_2/weight', D, D)
        w(f'{p}/attention/linear_2/bias', D)
        ffn(p)
    ln('decoder/layer_norm')
    v['decoder/num_heads'] = np.array(HEADS, dtype='i1')
    v['decoder/activation'] = np.array(3, dtype='i1')  # exact GELU
    return v


def large_v3_tokenizer(base: dict) -> dict:
    """A 51865-token multilingual tokenizer.json turned into large-v3's 51866 (with <|yue|>)."""
    tok = json.loads(json.dumps(base))
    added = []
    for t in tok['added_tokens']:
        if t['id'] >= YUE_ID:
            t = dict(t, id=t['id'] + 1)
        added.append(t)
    added.append({'id': YUE_ID, 'content': '<|yue|>', 'single_word': False, 'lstrip': False,
                  'rstrip': False, 'normalized': False, 'special': True})
    tok['added_tokens'] = sorted((t for t in added if t['id'] < VOCAB), key=lambda t: t['id'])
    return tok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--base-tokenizer', required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(1234)
    write_model_bin(os.path.join(args.out, 'model.bin'), weights(rng), {'decoder/projection/weight': 'decoder/embeddings/weight'})
    with open(args.base_tokenizer, encoding='utf-8') as f:
        tok = large_v3_tokenizer(json.load(f))
    ids = {t['content']: t['id'] for t in tok['added_tokens']}
    eot = ids['<|endoftext|>']
    config = {
        'alignment_heads': [[1, 0]],
        'lang_ids': list(range(ids['<|startoftranscript|>'] + 1, ids['<|translate|>'])),
        'suppress_ids': [1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93],
        'suppress_ids_begin': [220, eot],
    }
    pre = {'chunk_length': 30, 'feature_extractor_type': 'WhisperFeatureExtractor', 'feature_size': N_MELS,
           'hop_length': 160, 'n_fft': 400, 'n_samples': 480000, 'nb_max_frames': 3000,
           'padding_side': 'right', 'padding_value': 0.0, 'processor_class': 'WhisperProcessor',
           'return_attention_mask': False, 'sampling_rate': 16000}
    vocab_list = [''] * VOCAB
    for k, i in tok['model']['vocab'].items():
        if i < VOCAB:
            vocab_list[i] = k
    for t in tok['added_tokens']:
        vocab_list[t['id']] = t['content']
    files = {'config.json': config, 'preprocessor_config.json': pre, 'tokenizer.json': tok, 'vocabulary.json': vocab_list}
    for name, obj in files.items():
        with open(os.path.join(args.out, name), 'w', encoding='utf-8') as f:
            json.dump(obj, f, ensure_ascii=False)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
