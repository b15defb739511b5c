//! Deserializing arrays of a hostile document without letting it choose how much memory they
//! take: a JSON array of empty objects is two bytes an element in the document and a whole
//! struct in memory, so counts are bounded while reading, not after.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// A `Vec<T>` of at most `N` elements; a longer array is an error (`too many`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bounded<T, const N: usize>(pub(crate) Vec<T>);

impl<T, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Bounded(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of at most {N} elements")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N).min(1024));
                while let Some(x) = seq.next_element()? {
                    if out.len() == N {
                        return Err(serde::de::Error::custom(format!("too many elements (more than {N})")));
                    }
                    out.push(x);
                }
                Ok(Bounded(out))
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary: what is stored of a field.
pub(crate) fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_bounded_while_reading() {
        let ok: Bounded<u8, 3> = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!(ok.0, vec![1, 2, 3]);
        let err = serde_json::from_str::<Bounded<u8, 3>>("[1,2,3,4]").unwrap_err();
        assert!(err.to_string().contains("too many elements"), "{err}");
        assert_eq!(clip("añb".into(), 2), "a");
        assert_eq!(clip("abc".into(), 5), "abc");
    }
}
