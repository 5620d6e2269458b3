//! Sample-rate conversion by a windowed-sinc polyphase filter.

use super::Samples;

/// Taps on each side of a resampled point.
const HALF_TAPS: usize = 16;

/// Resamples by a windowed-sinc polyphase filter: exact for the rational ratio (22050 →
/// 24000 is 147 → 160), 32 taps, Blackman window, cutoff just under the lower Nyquist.
/// Written here rather than taken from a crate (rubato would bring six more crates) because
/// it is one fixed, small conversion. The length is round(n × to / from), so durations stay
/// within one sample.
pub fn resample(pcm: &Samples, to: u32) -> Samples {
    if pcm.rate == to || pcm.rate == 0 || to == 0 {
        return Samples {
            rate: to,
            samples: pcm.samples.clone(),
        };
    }
    let divisor = gcd(pcm.rate, to);
    let (down, up) = (u64::from(pcm.rate / divisor), u64::from(to / divisor));
    let n = u64::try_from(pcm.samples.len()).unwrap_or(u64::MAX);
    let out_len = (n.saturating_mul(up) + up / 2) / down;
    // Cutoff relative to the input rate: the lower of the two Nyquists, with a margin.
    let cutoff = 0.95 * (up as f64 / down as f64).min(1.0);
    let phases: Vec<[f32; 2 * HALF_TAPS]> = (0..up)
        .map(|phase| {
            let frac = phase as f64 / up as f64;
            let mut taps = [0f32; 2 * HALF_TAPS];
            let mut sum = 0.0;
            let mut weights = [0f64; 2 * HALF_TAPS];
            for (k, weight) in weights.iter_mut().enumerate() {
                // Tap k sits at input index floor(position) + k - HALF_TAPS + 1.
                let t = (k as f64 - (HALF_TAPS as f64 - 1.0)) - frac;
                let x = t * cutoff;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let w = (t + HALF_TAPS as f64) / (2.0 * HALF_TAPS as f64);
                let window = if (0.0..=1.0).contains(&w) {
                    0.42 - 0.5 * (2.0 * std::f64::consts::PI * w).cos()
                        + 0.08 * (4.0 * std::f64::consts::PI * w).cos()
                } else {
                    0.0
                };
                *weight = sinc * window;
                sum += *weight;
            }
            // Unit gain at DC for every phase.
            for (tap, weight) in taps.iter_mut().zip(weights) {
                *tap = if sum.abs() > 1e-12 {
                    (weight / sum) as f32
                } else {
                    0.0
                };
            }
            taps
        })
        .collect();
    let input = &pcm.samples;
    let samples = (0..out_len)
        .map(|i| {
            let position = i * down;
            let base = position / up;
            let taps = &phases[usize::try_from(position % up).unwrap_or(0)];
            let first = usize::try_from(base)
                .unwrap_or(usize::MAX)
                .checked_sub(HALF_TAPS - 1);
            let window = first.and_then(|f| input.get(f..f.checked_add(2 * HALF_TAPS)?));
            let acc: f32 = match window {
                // The common case, away from the ends: one straight dot product.
                Some(window) => window
                    .iter()
                    .zip(taps)
                    .map(|(s, t)| f32::from(*s) * t)
                    .sum(),
                // Near the ends, samples outside the input count as silence.
                None => taps
                    .iter()
                    .enumerate()
                    .filter_map(|(k, tap)| {
                        let index = (base + k as u64).checked_sub(HALF_TAPS as u64 - 1)?;
                        let sample = input.get(usize::try_from(index).ok()?)?;
                        Some(f32::from(*sample) * tap)
                    })
                    .sum(),
            };
            // Saturating float-to-int conversion: a ringing peak clips, it cannot wrap.
            acc.round() as i16
        })
        .collect();
    Samples { rate: to, samples }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::tone;
    use super::*;

    #[test]
    fn resampling_keeps_length_and_shape() {
        let pcm = tone(22_050, 1.0);
        let out = resample(&pcm, 24_000);
        assert_eq!(out.samples.len(), 24_000);
        // A 440 Hz tone stays a 440 Hz tone of the same level: compare with the ideal.
        let ideal = tone(24_000, 1.0);
        let worst = out.samples[100..23_900]
            .iter()
            .zip(&ideal.samples[100..23_900])
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(worst < 40, "worst error {worst}");
        assert_eq!(
            resample(
                &Samples {
                    rate: 22_050,
                    samples: vec![]
                },
                24_000
            )
            .samples
            .len(),
            0
        );
        assert_eq!(
            resample(
                &Samples {
                    rate: 22_050,
                    samples: vec![5; 3]
                },
                24_000
            )
            .samples
            .len(),
            3
        );
    }
}
