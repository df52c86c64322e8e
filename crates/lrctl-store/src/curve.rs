//! Learning curves: one compact binary blob per cell.
//!
//! A blob rather than one SQL row per point: curves are always read whole, a blob keeps a
//! 1000-point curve at about 60 KB in one row, and it stores every `f64` bit for bit (NaN and
//! infinities included, which JSON and some SQL engines cannot), so results stay identical
//! whichever back end or worker wrote them.
//!
//! Layout, version 1 (all integers and floats little-endian):
//!
//! | bytes | content |
//! | --- | --- |
//! | 4 | magic `LRCV` |
//! | 1 | format version, `1` |
//! | 3 | reserved, zero |
//! | 4 | `u32` number of points |
//! | per point | `u64` step; `f64` epoch, train_loss, lr, effective_lr, grad_norm, wall_seconds; `u8` flags (bit 0: eval_loss present, bit 1: eval_metric present); then `f64` eval_loss and `f64` eval_metric when present |

const MAGIC: &[u8; 4] = b"LRCV";
const VERSION: u8 = 1;
const HEADER: usize = 12;
const FIXED: usize = 8 * 7 + 1;

pub use lrctl_record::CurvePointRow;

/// Encodes a curve in the layout described in the module documentation.
pub fn encode(points: &[CurvePointRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + points.len() * FIXED);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    let n = u32::try_from(points.len()).expect("a curve has fewer than 2^32 points");
    out.extend_from_slice(&n.to_le_bytes());
    for p in points {
        out.extend_from_slice(&p.step.to_le_bytes());
        for x in p.reals() {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let flags = u8::from(p.eval_loss.is_some()) | (u8::from(p.eval_metric.is_some()) << 1);
        out.push(flags);
        for x in [p.eval_loss, p.eval_metric].into_iter().flatten() {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// Decodes a blob written by [`encode`]; the error says what is wrong with it.
pub fn decode(blob: &[u8]) -> Result<Vec<CurvePointRow>, String> {
    if blob.len() < HEADER || &blob[..4] != MAGIC {
        return Err("curve blob has no LRCV header".into());
    }
    if blob[4] != VERSION {
        return Err(format!(
            "curve blob has format version {}, this lrctl reads version {VERSION}; upgrade lrctl",
            blob[4]
        ));
    }
    let n = u32::from_le_bytes(blob[8..12].try_into().expect("4 bytes")) as usize;
    let mut r = Reader { blob, at: HEADER };
    // Cap the allocation by what the blob can hold, so a damaged count cannot exhaust memory.
    let mut points = Vec::with_capacity(n.min(blob.len() / FIXED));
    for i in 0..n {
        let truncated = || format!("curve blob truncated at point {i} of {n}");
        let step = u64::from_le_bytes(r.take8().ok_or_else(truncated)?);
        let mut f = [0f64; 6];
        for x in &mut f {
            *x = f64::from_le_bytes(r.take8().ok_or_else(truncated)?);
        }
        let flags = r.take1().ok_or_else(truncated)?;
        if flags & !3 != 0 {
            return Err(format!(
                "curve blob has unknown flags {flags:#x} at point {i}"
            ));
        }
        let mut opt = |bit: u8| -> Result<Option<f64>, String> {
            if flags & bit == 0 {
                return Ok(None);
            }
            Ok(Some(f64::from_le_bytes(r.take8().ok_or_else(truncated)?)))
        };
        let eval_loss = opt(1)?;
        let eval_metric = opt(2)?;
        points.push(CurvePointRow {
            step,
            epoch: f[0],
            train_loss: f[1],
            lr: f[2],
            effective_lr: f[3],
            grad_norm: f[4],
            wall_seconds: f[5],
            eval_loss,
            eval_metric,
        });
    }
    if r.at != blob.len() {
        return Err(format!(
            "curve blob has {} bytes after its last point",
            blob.len() - r.at
        ));
    }
    Ok(points)
}

struct Reader<'a> {
    blob: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take8(&mut self) -> Option<[u8; 8]> {
        let b = self.blob.get(self.at..self.at + 8)?;
        self.at += 8;
        Some(b.try_into().expect("8 bytes"))
    }

    fn take1(&mut self) -> Option<u8> {
        let b = *self.blob.get(self.at)?;
        self.at += 1;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(p: &CurvePointRow) -> Vec<Option<u64>> {
        let mut v = vec![Some(p.step)];
        v.extend(p.reals().map(|x| Some(x.to_bits())));
        v.extend([p.eval_loss, p.eval_metric].map(|x| x.map(f64::to_bits)));
        v
    }

    fn sample() -> Vec<CurvePointRow> {
        (0..50u64)
            .map(|i| CurvePointRow {
                step: i * 10,
                epoch: i as f64 / 7.0,
                train_loss: if i == 49 {
                    f64::NAN
                } else {
                    2.0 / (i as f64 + 1.0)
                },
                lr: if i == 48 { f64::INFINITY } else { 1e-3 },
                effective_lr: -0.0,
                grad_norm: f64::NEG_INFINITY,
                wall_seconds: i as f64 * 0.01,
                eval_loss: (i % 10 == 0).then_some(1.5 - i as f64 * 0.01),
                eval_metric: (i % 20 == 0).then_some(f64::NAN),
            })
            .collect()
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let pts = sample();
        let blob = encode(&pts);
        let back = decode(&blob).unwrap();
        assert_eq!(back.len(), pts.len());
        for (a, b) in pts.iter().zip(&back) {
            assert_eq!(bits(a), bits(b));
        }
        assert!(decode(&encode(&[])).unwrap().is_empty());
        // A point without evaluations costs 57 bytes; one with both, 73.
        assert_eq!(encode(&pts[1..2]).len(), HEADER + 57);
        assert_eq!(encode(&pts[0..1]).len(), HEADER + 73);
    }

    #[test]
    fn damaged_blobs_are_rejected() {
        let blob = encode(&sample());
        assert!(
            decode(&blob[..blob.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        let mut longer = blob.clone();
        longer.push(0);
        assert!(
            decode(&longer)
                .unwrap_err()
                .contains("after its last point")
        );
        let mut v2 = blob.clone();
        v2[4] = 2;
        assert!(decode(&v2).unwrap_err().contains("upgrade lrctl"));
        assert!(decode(b"[[1,2,3]]").unwrap_err().contains("header"));
        let mut huge = blob[..HEADER].to_vec();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).unwrap_err().contains("truncated"));
        let mut flags = encode(&sample()[1..2]);
        flags[HEADER + FIXED - 1] = 0x80;
        assert!(decode(&flags).unwrap_err().contains("flags"));
    }
}
