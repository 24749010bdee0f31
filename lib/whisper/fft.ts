/**
 * The FFT behind Whisper's log-Mel spectrogram (mel.ts): a 400-point real FFT as a 200-point
 * complex FFT (mixed radix 4·5·5·2) plus the usual even/odd split.
 */

const C5_1 = Math.cos((2 * Math.PI) / 5);
const C5_2 = Math.cos((4 * Math.PI) / 5);
const S5_1 = Math.sin((2 * Math.PI) / 5);
const S5_2 = Math.sin((4 * Math.PI) / 5);
const S3 = Math.sin((2 * Math.PI) / 3);

/** Complex FFT of any size that factors into 2, 3, 4 and 5. */
export class ComplexFFT {
  readonly n: number;
  private readonly factors: number[];
  /**
   * Per recursion level, the twiddles W_len^{q·k} (len = the level's transform size, q = 1…p−1,
   * k < len / p) at [(q − 1)·m + k]: the butterflies read them in order, with no index arithmetic.
   */
  private readonly twRe: Float64Array[] = [];
  private readonly twIm: Float64Array[] = [];

  constructor(n: number) {
    this.n = n;
    const factors: number[] = [];
    let rest = n;
    for (const p of [4, 5, 3, 2]) {
      while (rest % p === 0) {
        factors.push(p);
        rest /= p;
      }
    }
    if (rest !== 1) throw new Error(`FFT size ${n} must factor into 2, 3, 4, 5`);
    this.factors = factors;
    let len = n;
    for (const p of factors) {
      const m = len / p;
      const re = new Float64Array((p - 1) * m);
      const im = new Float64Array((p - 1) * m);
      for (let q = 1; q < p; q++)
        for (let k = 0; k < m; k++) {
          const a = (-2 * Math.PI * q * k) / len;
          re[(q - 1) * m + k] = Math.cos(a);
          im[(q - 1) * m + k] = Math.sin(a);
        }
      this.twRe.push(re);
      this.twIm.push(im);
      len = m;
    }
  }

  /** Forward transform of (inRe, inIm) into (outRe, outIm); inputs are not modified. */
  transform(inRe: Float64Array, inIm: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.rec(inRe, inIm, 0, 1, outRe, outIm, 0, this.n, 0);
  }

  /** Decimation in time: the p sub-transforms of every p-th input, then p-point butterflies. */
  private rec(
    inRe: Float64Array,
    inIm: Float64Array,
    inOff: number,
    stride: number,
    re: Float64Array,
    im: Float64Array,
    o: number,
    n: number,
    fi: number,
  ): void {
    const p = this.factors[fi];
    const m = n / p;
    if (m === 1) {
      for (let q = 0; q < p; q++) {
        re[o + q] = inRe[inOff + q * stride];
        im[o + q] = inIm[inOff + q * stride];
      }
    } else {
      for (let q = 0; q < p; q++)
        this.rec(inRe, inIm, inOff + q * stride, stride * p, re, im, o + q * m, m, fi + 1);
    }
    const wr = this.twRe[fi];
    const wi = this.twIm[fi];
    // X[k + s·m] = Σ_q W_p^{q·s} · a_q with a_q = W_n^{q·k} · Y_q[k]
    for (let k = 0; k < m; k++) {
      const i0 = o + k;
      const a0r = re[i0];
      const a0i = im[i0];
      const i1 = i0 + m;
      const a1r = re[i1] * wr[k] - im[i1] * wi[k];
      const a1i = re[i1] * wi[k] + im[i1] * wr[k];
      if (p === 2) {
        re[i0] = a0r + a1r;
        im[i0] = a0i + a1i;
        re[i1] = a0r - a1r;
        im[i1] = a0i - a1i;
        continue;
      }
      const i2 = i1 + m;
      const a2r = re[i2] * wr[m + k] - im[i2] * wi[m + k];
      const a2i = re[i2] * wi[m + k] + im[i2] * wr[m + k];
      if (p === 3) {
        const tr = a1r + a2r;
        const ti = a1i + a2i;
        const br = a0r - 0.5 * tr;
        const bi = a0i - 0.5 * ti;
        const dr = S3 * (a1r - a2r);
        const di = S3 * (a1i - a2i);
        re[i0] = a0r + tr;
        im[i0] = a0i + ti;
        re[i1] = br + di; // b − i·d
        im[i1] = bi - dr;
        re[i2] = br - di; // b + i·d
        im[i2] = bi + dr;
        continue;
      }
      const i3 = i2 + m;
      const a3r = re[i3] * wr[2 * m + k] - im[i3] * wi[2 * m + k];
      const a3i = re[i3] * wi[2 * m + k] + im[i3] * wr[2 * m + k];
      if (p === 4) {
        // W_4 = −i
        const sr = a0r + a2r;
        const si = a0i + a2i;
        const dr = a0r - a2r;
        const di = a0i - a2i;
        const tr = a1r + a3r;
        const ti = a1i + a3i;
        const ur = a1r - a3r;
        const ui = a1i - a3i;
        re[i0] = sr + tr;
        im[i0] = si + ti;
        re[i1] = dr + ui; // d − i·u
        im[i1] = di - ur;
        re[i2] = sr - tr;
        im[i2] = si - ti;
        re[i3] = dr - ui; // d + i·u
        im[i3] = di + ur;
        continue;
      }
      // p === 5
      const i4 = i3 + m;
      const a4r = re[i4] * wr[3 * m + k] - im[i4] * wi[3 * m + k];
      const a4i = re[i4] * wi[3 * m + k] + im[i4] * wr[3 * m + k];
      const t1r = a1r + a4r;
      const t1i = a1i + a4i;
      const t2r = a2r + a3r;
      const t2i = a2i + a3i;
      const t3r = a1r - a4r;
      const t3i = a1i - a4i;
      const t4r = a2r - a3r;
      const t4i = a2i - a3i;
      const b1r = a0r + C5_1 * t1r + C5_2 * t2r;
      const b1i = a0i + C5_1 * t1i + C5_2 * t2i;
      const b2r = a0r + C5_2 * t1r + C5_1 * t2r;
      const b2i = a0i + C5_2 * t1i + C5_1 * t2i;
      const d1r = S5_1 * t3r + S5_2 * t4r;
      const d1i = S5_1 * t3i + S5_2 * t4i;
      const d2r = S5_2 * t3r - S5_1 * t4r;
      const d2i = S5_2 * t3i - S5_1 * t4i;
      re[i0] = a0r + t1r + t2r;
      im[i0] = a0i + t1i + t2i;
      re[i1] = b1r + d1i; // b1 − i·d1
      im[i1] = b1i - d1r;
      re[i4] = b1r - d1i; // b1 + i·d1
      im[i4] = b1i + d1r;
      re[i2] = b2r + d2i; // b2 − i·d2
      im[i2] = b2i - d2r;
      re[i3] = b2r - d2i; // b2 + i·d2
      im[i3] = b2i + d2r;
    }
  }
}

/** Power spectrum |rfft(x)|² of one real frame of `n` samples (x already windowed), n even. */
export class RealPowerFFT {
  private readonly half: number;
  private readonly fft: ComplexFFT;
  private readonly zRe: Float64Array;
  private readonly zIm: Float64Array;
  private readonly ZRe: Float64Array;
  private readonly ZIm: Float64Array;
  private readonly wCos: Float64Array;
  private readonly wSin: Float64Array;

  constructor(readonly n: number) {
    if (n % 2 !== 0) throw new Error(`real FFT size ${n} must be even`);
    this.half = n / 2;
    this.fft = new ComplexFFT(n / 2);
    this.zRe = new Float64Array(n / 2);
    this.zIm = new Float64Array(n / 2);
    this.ZRe = new Float64Array(n / 2);
    this.ZIm = new Float64Array(n / 2);
    this.wCos = new Float64Array(n / 2 + 1);
    this.wSin = new Float64Array(n / 2 + 1);
    for (let k = 0; k <= this.half; k++) {
      this.wCos[k] = Math.cos((2 * Math.PI * k) / n);
      this.wSin[k] = -Math.sin((2 * Math.PI * k) / n);
    }
  }

  /** `frame` has `n` values; writes n / 2 + 1 powers into `power`. */
  power(frame: Float64Array, power: Float64Array): void {
    const M = this.half;
    const zRe = this.zRe;
    const zIm = this.zIm;
    for (let i = 0; i < M; i++) {
      zRe[i] = frame[2 * i];
      zIm[i] = frame[2 * i + 1];
    }
    this.fft.transform(zRe, zIm, this.ZRe, this.ZIm);
    const ZRe = this.ZRe;
    const ZIm = this.ZIm;
    for (let k = 0; k <= M; k++) {
      const a = k === M ? 0 : k; // k mod M
      const b = k === 0 ? 0 : M - k; // (M − k) mod M
      // E = (Z[k] + conj Z[M-k]) / 2 ; O = (Z[k] - conj Z[M-k]) / (2i)
      const eRe = 0.5 * (ZRe[a] + ZRe[b]);
      const eIm = 0.5 * (ZIm[a] - ZIm[b]);
      const dRe = 0.5 * (ZRe[a] - ZRe[b]);
      const dIm = 0.5 * (ZIm[a] + ZIm[b]);
      // O = d / i = -i·d = (dIm, -dRe)
      const oRe = dIm;
      const oIm = -dRe;
      const c = this.wCos[k];
      const s = this.wSin[k];
      const xRe = eRe + oRe * c - oIm * s;
      const xIm = eIm + oRe * s + oIm * c;
      power[k] = xRe * xRe + xIm * xIm;
    }
  }
}
