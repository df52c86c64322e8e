//! A bounds-checked front to the `gemm` crate (the matrix multiply burn-flex uses), with strides, so
//! transposed operands need no copy.

/// A read-only matrix view: `rows × cols` elements of `data` at `data[r * row + c * col]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row: usize,
    pub col: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            row: cols,
            col: 1,
        }
    }

    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row: self.col,
            col: self.row,
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row + (self.cols - 1) * self.col;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` with `accumulate`), `dst` row-major `lhs.rows × rhs.cols`,
/// on the calling thread (callers parallelise over independent products).
pub(crate) fn matmul(dst: &mut [f32], accumulate: bool, lhs: View, rhs: View) {
    matmul_strided(dst, rhs.cols, accumulate, lhs, rhs);
}

/// [`matmul`] into a destination whose rows are `dst_row` floats apart (a column block of a wider
/// row-major matrix).
pub(crate) fn matmul_strided(
    dst: &mut [f32],
    dst_row: usize,
    accumulate: bool,
    lhs: View,
    rhs: View,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert!(dst_row >= n, "destination rows overlap");
    assert!(
        m == 0 || n == 0 || dst.len() >= (m - 1) * dst_row + n,
        "destination too small"
    );
    lhs.check();
    rhs.check();
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                dst[row * dst_row..][..n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: every index the product touches was bounds-checked above; `dst` does not alias the
    // operands (it is a unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col as isize,
            lhs.row as isize,
            rhs.data.as_ptr(),
            rhs.col as isize,
            rhs.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_products_match_the_definition() {
        let a: Vec<f32> = (0..6).map(|i| i as f32).collect(); // 2×3
        let b: Vec<f32> = (0..12).map(|i| (i as f32) * 0.5 - 2.0).collect(); // 3×4
        let mut c = vec![1.0; 8];
        matmul(&mut c, false, View::rows(&a, 2, 3), View::rows(&b, 3, 4));
        for i in 0..2 {
            for j in 0..4 {
                let want: f32 = (0..3).map(|k| a[i * 3 + k] * b[k * 4 + j]).sum();
                assert_eq!(c[i * 4 + j], want);
            }
        }
        // (aᵀ)ᵀ · b accumulated onto c doubles it.
        let at: Vec<f32> = (0..6).map(|i| a[(i % 2) * 3 + i / 2]).collect(); // 3×2, row-major
        let before = c.clone();
        matmul(
            &mut c,
            true,
            View::rows(&at, 3, 2).t(),
            View::rows(&b, 3, 4),
        );
        for (x, y) in c.iter().zip(&before) {
            assert_eq!(*x, 2.0 * y);
        }
    }
}
