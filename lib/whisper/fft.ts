/**
 * The FFT behind Whisper's log-Mel spectrogram (mel.ts): a 400-point real FFT as a 200-point
 * complex FFT (mixed radix 5·5·4·2) plus the usual even/odd split.
 */

/** Complex FFT of any size that factors into 2, 3, 4 and 5. */
export class ComplexFFT {
  readonly n: number;
  private readonly factors: number[];
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly tmpRe = new Float64Array(8);
  private readonly tmpIm = new Float64Array(8);

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
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.cos[i] = Math.cos((2 * Math.PI * i) / n);
      this.sin[i] = -Math.sin((2 * Math.PI * i) / n);
    }
  }

  /** Forward transform of (inRe, inIm) into (outRe, outIm); inputs are not modified. */
  transform(inRe: Float64Array, inIm: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.rec(inRe, inIm, 0, 1, outRe, outIm, 0, this.n, 0);
  }

  private rec(
    inRe: Float64Array,
    inIm: Float64Array,
    inOff: number,
    stride: number,
    outRe: Float64Array,
    outIm: Float64Array,
    outOff: number,
    n: number,
    fi: number,
  ): void {
    const p = this.factors[fi];
    const m = n / p;
    if (m === 1) {
      for (let q = 0; q < p; q++) {
        outRe[outOff + q] = inRe[inOff + q * stride];
        outIm[outOff + q] = inIm[inOff + q * stride];
      }
    } else {
      for (let q = 0; q < p; q++)
        this.rec(inRe, inIm, inOff + q * stride, stride * p, outRe, outIm, outOff + q * m, m, fi + 1);
    }
    // Butterflies: X[k + s·m] = Σ_q W_n^{q(k + s·m)} · Y_q[k]
    const N = this.n;
    const step = N / n; // twiddle W_n^j = W_N^{j·step}
    const cos = this.cos;
    const sin = this.sin;
    const tr = this.tmpRe;
    const ti = this.tmpIm;
    for (let k = 0; k < m; k++) {
      // twiddled inputs a_q = W_n^{q k} Y_q[k]
      for (let q = 0; q < p; q++) {
        const idx = outOff + q * m + k;
        const re = outRe[idx];
        const im = outIm[idx];
        const t = q * k * step; // < N: q < p, k < m, step = N / (p·m)
        const c = cos[t];
        const s = sin[t];
        tr[q] = re * c - im * s;
        ti[q] = re * s + im * c;
      }
      if (p === 2) {
        outRe[outOff + k] = tr[0] + tr[1];
        outIm[outOff + k] = ti[0] + ti[1];
        outRe[outOff + k + m] = tr[0] - tr[1];
        outIm[outOff + k + m] = ti[0] - ti[1];
      } else if (p === 4) {
        // W_4 = -i
        const aRe = tr[0] + tr[2];
        const aIm = ti[0] + ti[2];
        const bRe = tr[0] - tr[2];
        const bIm = ti[0] - ti[2];
        const cRe = tr[1] + tr[3];
        const cIm = ti[1] + ti[3];
        const dRe = tr[1] - tr[3];
        const dIm = ti[1] - ti[3];
        outRe[outOff + k] = aRe + cRe;
        outIm[outOff + k] = aIm + cIm;
        outRe[outOff + k + m] = bRe + dIm; // b + (-i)d
        outIm[outOff + k + m] = bIm - dRe;
        outRe[outOff + k + 2 * m] = aRe - cRe;
        outIm[outOff + k + 2 * m] = aIm - cIm;
        outRe[outOff + k + 3 * m] = bRe - dIm; // b + (i)d
        outIm[outOff + k + 3 * m] = bIm + dRe;
      } else {
        // generic small DFT (p = 3 or 5): X_s = Σ_q a_q W_p^{q s}
        const pStep = N / p;
        for (let s = 0; s < p; s++) {
          let re = tr[0];
          let im = ti[0];
          for (let q = 1, qs = s; q < p; q++, qs += s) {
            const t = (qs >= p ? qs % p : qs) * pStep;
            const c = cos[t];
            const sn = sin[t];
            re += tr[q] * c - ti[q] * sn;
            im += tr[q] * sn + ti[q] * c;
          }
          outRe[outOff + k + s * m] = re;
          outIm[outOff + k + s * m] = im;
        }
      }
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
      const a = k % M;
      const b = (M - k) % M;
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
