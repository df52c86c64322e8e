//! Seeded parameter initialisation and the flat-vector view of a burn module.
//!
//! burn's own initialisers draw from one global RNG per backend, which two cells training on two
//! threads would share; lrctl instead initialises every parameter from the cell's own seeded
//! generator, using PyTorch's default schemes so that a PyTorch reference model can start from
//! the same distribution (Linear/Conv: `U(±1/√fan_in)` for weights and biases; Embedding:
//! `N(0, 1)`; LayerNorm: ones and zeros).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::TaskError;

/// Re-initialises every float parameter of `module` from `rng`.
///
/// Total over modules: a parameter of a layer without a rule here (anything but `Linear`,
/// `Conv2d`, `Embedding` and `LayerNorm`) is [`TaskError::Init`] naming it, never a panic and
/// never burn's own (thread-shared, so irreproducible) initialisation.
pub fn init_params<M: Module>(module: M, rng: &mut ChaCha8Rng) -> Result<M, TaskError> {
    let mut init = Init {
        rng,
        stack: Vec::new(),
        fan_in: 1,
        unknown: None,
    };
    let module = module.map(&mut init);
    match init.unknown {
        None => Ok(module),
        Some((container, field)) => Err(TaskError::Init { container, field }),
    }
}

struct Init<'a> {
    rng: &'a mut ChaCha8Rng,
    /// (field name, container type) of the enclosing fields.
    stack: Vec<(String, String)>,
    /// Fan-in of the most recent weight, used for the bias that follows it.
    fan_in: usize,
    /// The first parameter without a rule: (container, field).
    unknown: Option<(String, String)>,
}

impl ModuleMapper for Init<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        let (field, container) = self
            .stack
            .last()
            .map(|(f, c)| (f.as_str(), c.as_str()))
            .unwrap_or(("", ""));
        let values: Vec<f32> = match (container, field) {
            ("Struct:Linear", "weight") => {
                // burn stores Linear weights as [d_input, d_output].
                self.fan_in = dims[0];
                self.uniform(n, self.fan_in)
            }
            ("Struct:Conv2d", "weight") => {
                self.fan_in = dims[1..].iter().product();
                self.uniform(n, self.fan_in)
            }
            ("Struct:Linear" | "Struct:Conv2d", "bias") => self.uniform(n, self.fan_in),
            ("Struct:Embedding", "weight") => (0..n)
                .map(|_| StandardNormal.sample(&mut *self.rng))
                .collect(),
            ("Struct:LayerNorm", "gamma") => vec![1.0; n],
            ("Struct:LayerNorm", "beta") => vec![0.0; n],
            _ => {
                // Reported by `init_params`; the value is left as it is meanwhile.
                if self.unknown.is_none() {
                    self.unknown = Some((container.to_string(), field.to_string()));
                }
                return Param::from_mapped_value(id, tensor, mapper);
            }
        };
        let device = tensor.device();
        let value = Tensor::<D>::from_data(TensorData::new(values, dims), &device).require_grad();
        Param::from_mapped_value(id, value, mapper)
    }
}

impl Init<'_> {
    fn uniform(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        (0..n)
            .map(|_| self.rng.random_range(-bound..bound))
            .collect()
    }
}

/// Number of float parameters of a module.
pub fn count_params<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += param.shape().num_elements();
        }
    }
    let mut c = Count(0);
    module.visit(&mut c);
    c.0
}

/// The shape of every float parameter, in visiting order (the order of [`read_params`]).
pub fn param_shapes<M: Module>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.shape().dims::<D>().to_vec());
        }
    }
    let mut s = Shapes(Vec::new());
    module.visit(&mut s);
    s.0
}

/// Copies all float parameters, in visiting order, into one flat vector.
pub fn read_params<M: Module>(module: &M, out: &mut Vec<f32>) {
    struct Read<'a>(&'a mut Vec<f32>);
    impl ModuleVisitor for Read<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data();
            extend_f32(self.0, data);
        }
    }
    out.clear();
    module.visit(&mut Read(out));
}

/// Moves the gradients of all float parameters, in visiting order, into `out` (zeros for a
/// parameter that received no gradient).
pub fn read_grads<M: Module>(module: &M, grads: &mut Gradients, out: &mut Vec<f32>) {
    struct ReadGrads<'a> {
        grads: &'a mut Gradients,
        out: &'a mut Vec<f32>,
    }
    impl ModuleVisitor for ReadGrads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            match value.grad_remove(self.grads) {
                Some(g) => extend_f32(self.out, g.into_data()),
                None => {
                    let n = value.shape().num_elements();
                    self.out.resize(self.out.len() + n, 0.0);
                }
            }
        }
    }
    out.clear();
    module.visit(&mut ReadGrads { grads, out });
}

fn extend_f32(out: &mut Vec<f32>, data: TensorData) {
    match data.as_slice::<f32>() {
        Ok(s) => out.extend_from_slice(s),
        Err(_) => out.extend(data.iter::<f32>()),
    }
}

/// Overwrites all float parameters, in visiting order, from a flat vector.
pub fn write_params<M: Module>(module: M, flat: &[f32]) -> M {
    struct Write<'a> {
        flat: &'a [f32],
        offset: usize,
    }
    impl ModuleMapper for Write<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let dims = tensor.dims();
            let n: usize = dims.iter().product();
            let values = self.flat[self.offset..self.offset + n].to_vec();
            self.offset += n;
            let device = tensor.device();
            let require_grad = tensor.is_require_grad();
            let mut value = Tensor::<D>::from_data(TensorData::new(values, dims), &device);
            if require_grad {
                value = value.require_grad();
            }
            Param::from_mapped_value(id, value, mapper)
        }
    }
    let mut w = Write { flat, offset: 0 };
    let module = module.map(&mut w);
    assert_eq!(
        w.offset,
        flat.len(),
        "flat parameter vector does not match the model"
    );
    module
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::{Conv1d, Conv1dConfig};
    use burn::nn::{Linear, LinearConfig};
    use rand::SeedableRng;

    #[derive(Module, Debug)]
    struct Unruled {
        dense: Linear,
        temporal: Conv1d,
    }

    #[test]
    fn a_layer_without_a_rule_is_an_error_naming_it() {
        let device = crate::default_device();
        let m = Unruled {
            dense: LinearConfig::new(3, 2).init(&device),
            temporal: Conv1dConfig::new(2, 2, 3).init(&device),
        };
        let e = init_params(m, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
        assert!(
            matches!(&e, TaskError::Init { container, field }
                if container == "Struct:Conv1d" && field == "weight"),
            "{e}"
        );
        assert!(e.to_string().contains("lrctl_tasks::init"), "{e}");
        let ok = LinearConfig::new(3, 2).init(&device);
        assert!(init_params(ok, &mut ChaCha8Rng::seed_from_u64(0)).is_ok());
    }
}
