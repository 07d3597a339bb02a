//! JSON paging: reading a list page (a JSON array) straight from the input, with no
//! `serde_json::Value` tree in between: a strict [`Skip`] for what is not kept,
//! [`Tolerant`] visitors that read a value of an unexpected JSON type as absent, key
//! lookup that tries the exact key and then ignores ASCII case ([`KeySeed`] and
//! [`Slot`]), and the list-page reader [`read_array`].
//!
//! Everything here accepts and rejects exactly the input that parsing into a `Value`
//! does (same UTF-8, escape, number and nesting-depth checks, same error positions), so a
//! page that used to be a `MalformedResponse` still is one.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;

/// A JSON value read and dropped.
///
/// Not `serde::de::IgnoredAny`: serde_json skips that one without checking UTF-8, `\u`
/// escapes, number range or nesting depth, so it lets through pages that parsing into a
/// `Value` rejects. `Skip` goes through `deserialize_any` as `Value` does, and allocates
/// nothing (strings are borrowed from the input or read into the parser's scratch buffer).
pub struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        Skip::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        Skip::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// What a tolerant reader makes of a JSON value, by kind. Every kind it does not
/// override reads as absent (`Out::default()`, normally `None`), its input consumed.
pub trait Shape<'de>: Sized {
    type Out: Default;

    fn string(self, s: &str) -> Self::Out {
        let _ = s;
        Self::Out::default()
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Self::Out::default())
    }

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Self::Out::default())
    }
}

/// Reads any JSON value with a [`Shape`]: never fails on the value's type, only on input
/// that is not JSON.
pub struct Tolerant<S>(pub S);

impl<'de, S: Shape<'de>> DeserializeSeed<'de> for Tolerant<S> {
    type Value = S::Out;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Out, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: Shape<'de>> Visitor<'de> for Tolerant<S> {
    type Value = S::Out;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<S::Out, E> {
        Ok(self.0.string(s))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<S::Out, E> {
        Ok(S::Out::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<S::Out, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<S::Out, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<S::Out, A::Error> {
        self.0.array(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<S::Out, A::Error> {
        self.0.object(map)
    }
}

/// A JSON string; anything else is absent.
#[derive(Clone, Copy)]
pub struct Str;

impl<'de> Shape<'de> for Str {
    type Out = Option<String>;

    fn string(self, s: &str) -> Option<String> {
        Some(s.to_string())
    }
}

/// How an object key relates to the keys a reader looks for.
pub enum Key {
    /// Exactly `names[i]`.
    Exact(usize),
    /// `names[i]` ignoring ASCII case, but not exactly: kept, `get_ci` may need it.
    Folded(usize, String),
    /// None of them.
    Other,
}

/// Reads an object key and matches it against `names` (no two of them equal ignoring
/// ASCII case). Allocates only for a key that differs from its name in case.
#[derive(Clone, Copy)]
pub struct KeySeed(pub &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
        if let Some(i) = self.0.iter().position(|n| *n == s) {
            return Ok(Key::Exact(i));
        }
        Ok(
            match self.0.iter().position(|n| n.eq_ignore_ascii_case(s)) {
                Some(i) => Key::Folded(i, s.to_string()),
                None => Key::Other,
            },
        )
    }
}

/// Reads an object key, kept (as `Some`) when it equals one of `names` ignoring ASCII case.
#[derive(Clone, Copy)]
pub struct KeptKeySeed(pub &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeptKeySeed {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeptKeySeed {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<String>, E> {
        Ok(self
            .0
            .iter()
            .any(|n| n.eq_ignore_ascii_case(s))
            .then(|| s.to_string()))
    }
}

/// An object's members whose key is one of `names` ignoring ASCII case, as raw values:
/// what `kept` in `models` makes of the whole object. Anything else is absent.
#[derive(Clone, Copy)]
pub struct Kept(pub &'static [&'static str]);

impl<'de> Shape<'de> for Kept {
    type Out = Option<Map<String, Value>>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeptKeySeed(self.0))? {
            match key {
                // `insert` as `Value`'s own map building does: a later duplicate wins.
                Some(key) => {
                    let value: Value = map.next_value()?;
                    out.insert(key, value);
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(out))
    }
}

/// The candidates for one key looked up with `get_ci` (exact key first, then the first
/// key equal to it ignoring ASCII case in the order of a `serde_json::Map`), gathered
/// while an object streams by and decided by [`Slot::resolve`] at its end.
pub struct Slot<T> {
    exact: Option<T>,
    /// Values under keys that match only ignoring case, in input order.
    folded: Vec<(String, T)>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            exact: None,
            folded: Vec::new(),
        }
    }
}

impl<T> Slot<T> {
    /// Reads the value of the member whose key (`None` for the exact key, the key itself
    /// when it matched ignoring case) was just read, unless it cannot matter any more.
    pub fn read<'de, A, S>(
        &mut self,
        map: &mut A,
        folded_key: Option<String>,
        shape: S,
    ) -> Result<(), A::Error>
    where
        A: MapAccess<'de>,
        S: Shape<'de, Out = T>,
    {
        match folded_key {
            None => {
                // A later duplicate of the exact key wins, as in a `Map`.
                self.exact = Some(map.next_value_seed(Tolerant(shape))?);
                self.folded = Vec::new();
            }
            Some(_) if self.exact.is_some() => {
                map.next_value::<Skip>()?;
            }
            Some(key) => {
                let value = map.next_value_seed(Tolerant(shape))?;
                self.folded.push((key, value));
            }
        }
        Ok(())
    }

    /// What `get_ci` would find in the object built from the members read.
    pub fn resolve(self) -> Option<T> {
        if self.exact.is_some() {
            return self.exact;
        }
        let mut folded = self.folded;
        let chosen = match folded.as_slice() {
            [] => return None,
            [(first, _), rest @ ..] if rest.iter().all(|(k, _)| k == first) => first.clone(),
            // Several spellings: the one a `Map` of them lists first (sorted, or in
            // insertion order under serde_json's `preserve_order`), as `get_ci` iterates.
            _ => {
                let mut order = Map::new();
                for (k, _) in &folded {
                    order.insert(k.clone(), Value::Null);
                }
                order.keys().next()?.clone()
            }
        };
        // The last value under that key: a later duplicate wins.
        let i = folded.iter().rposition(|(k, _)| *k == chosen)?;
        Some(folded.swap_remove(i).1)
    }
}

/// An object's string members named `names` (looked up as `get_ci` does; a member that is
/// not a string is absent). Anything but an object is absent.
#[derive(Clone, Copy)]
pub struct StrFields<const N: usize>(pub &'static [&'static str; N]);

impl<'de, const N: usize> Shape<'de> for StrFields<N> {
    type Out = Option<[Option<String>; N]>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut slots: [Slot<Option<String>>; N] = std::array::from_fn(|_| Slot::default());
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Key::Exact(i) => slots[i].read(&mut map, None, Str)?,
                Key::Folded(i, k) => slots[i].read(&mut map, Some(k), Str)?,
                Key::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(slots.map(|s| s.resolve().flatten())))
    }
}

/// How one element of a list page is read: `Ok(None)` for an element that is skipped.
/// It consumes the whole element and fails only on input that is not JSON.
pub trait ElementSeed<T>: for<'de> DeserializeSeed<'de, Value = Option<T>> + Copy {}

impl<T, S> ElementSeed<T> for S where S: for<'de> DeserializeSeed<'de, Value = Option<T>> + Copy {}

/// The elements of a JSON array, read with `seed`, and how many were skipped; anything
/// but an array is absent.
struct Elements<S, T>(S, PhantomData<fn() -> T>);

impl<'de, T, S: ElementSeed<T>> Shape<'de> for Elements<S, T> {
    type Out = Option<(Vec<T>, u64)>;

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        let mut items = Vec::new();
        let mut skipped = 0;
        while let Some(item) = seq.next_element_seed(self.0)? {
            match item {
                Some(item) => items.push(item),
                None => skipped += 1,
            }
        }
        Ok(Some((items, skipped)))
    }
}

/// Reads a list body: `Ok(None)` when it is JSON but not an array, else its elements read
/// with `seed` and the count of skipped ones. The error is serde_json's, exactly as
/// `serde_json::from_slice::<Value>` reports it.
pub fn read_array<T, S: ElementSeed<T>>(
    body: &[u8],
    seed: S,
) -> Result<Option<(Vec<T>, u64)>, serde_json::Error> {
    // UTF-8 is checked once here rather than string by string (and the readers are built
    // for one input type only). A body that is not UTF-8 is never JSON: its error is the
    // one serde_json gives when it reads the bytes into a `Value`.
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(utf8) => {
            return Err(match serde_json::from_slice::<Value>(body) {
                Err(e) => e,
                Ok(_) => de::Error::custom(utf8),
            })
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let out = Tolerant(Elements(seed, PhantomData)).deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Reads an element into a `Value` and then into `T` (via `serde_json::from_value`), as
/// list pages of the derived models are read: a non-object, or an object `T` does not
/// accept, is skipped.
pub struct ViaValue<T>(PhantomData<fn() -> T>);

impl<T> ViaValue<T> {
    pub fn new() -> Self {
        ViaValue(PhantomData)
    }
}

impl<T> Default for ViaValue<T> {
    fn default() -> Self {
        ViaValue::new()
    }
}

impl<T> Clone for ViaValue<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ViaValue<T> {}

impl<'de, T: de::DeserializeOwned> DeserializeSeed<'de> for ViaValue<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        let value = Value::deserialize(d)?;
        if !value.is_object() {
            return Ok(None);
        }
        Ok(serde_json::from_value(value).ok())
    }
}
