//! The model's parameter tensors as ranges of the flat parameter vector, for the rules that
//! work per tensor (layer-wise DoG, MoMo's per-tensor `⟨g, x⟩`); see
//! [`crate::Optimizer::set_param_shapes`].

/// `(start, len)` of each tensor, in the flat order: tensor `i` covers the next
/// `shapes[i].iter().product()` coordinates.
pub(crate) fn tensor_ranges(shapes: &[Vec<usize>]) -> Vec<(usize, usize)> {
    let mut start = 0;
    shapes
        .iter()
        .map(|s| {
            let len = s.iter().product::<usize>();
            start += len;
            (start - len, len)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_flat_order() {
        assert_eq!(
            tensor_ranges(&[vec![3, 2], vec![], vec![4]]),
            [(0, 6), (6, 1), (7, 4)]
        );
    }
}
