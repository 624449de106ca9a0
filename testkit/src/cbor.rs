//! The smallest CBOR (RFC 8949) encoder an attestation object needs: unsigned and negative
//! integers, byte strings, text strings and maps. Definite lengths only, as CTAP2 requires.

pub(crate) enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(&'static str),
    Map(Vec<(Cbor, Cbor)>),
}

impl Cbor {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Int(i) if *i >= 0 => head(out, 0, i.unsigned_abs()),
            // Major type 1 encodes -1 - n.
            Cbor::Int(i) => head(out, 1, (-1 - *i).unsigned_abs()),
            Cbor::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend(b);
            }
            Cbor::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend(t.as_bytes());
            }
            Cbor::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }
}

/// The initial byte (major type, and `n` itself when below 24) and the shortest argument for `n`:
/// CTAP2's canonical form, which webauthn-rs's parser does not demand but real devices send.
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match (u8::try_from(n), u16::try_from(n)) {
        (Ok(small), _) if small < 24 => out.push(m | small),
        (Ok(byte), _) => out.extend([m | 24, byte]),
        (_, Ok(short)) => {
            out.push(m | 25);
            out.extend(short.to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend(u32::try_from(n).expect("CBOR item under 4 GiB").to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Examples from RFC 8949 appendix A.
    #[test]
    fn rfc_examples() {
        assert_eq!(Cbor::Int(0).encode(), [0x00]);
        assert_eq!(Cbor::Int(23).encode(), [0x17]);
        assert_eq!(Cbor::Int(24).encode(), [0x18, 0x18]);
        assert_eq!(Cbor::Int(1000).encode(), [0x19, 0x03, 0xe8]);
        assert_eq!(Cbor::Int(1_000_000).encode(), [0x1a, 0x00, 0x0f, 0x42, 0x40]);
        assert_eq!(Cbor::Int(-1).encode(), [0x20]);
        assert_eq!(Cbor::Int(-7).encode(), [0x26]);
        assert_eq!(Cbor::Int(-100).encode(), [0x38, 0x63]);
        assert_eq!(Cbor::Bytes(vec![1, 2, 3, 4]).encode(), [0x44, 1, 2, 3, 4]);
        assert_eq!(Cbor::Text("IETF").encode(), [0x64, b'I', b'E', b'T', b'F']);
        assert_eq!(Cbor::Map(vec![]).encode(), [0xa0]);
        let map = Cbor::Map(vec![(Cbor::Int(1), Cbor::Int(2)), (Cbor::Int(3), Cbor::Int(4))]);
        assert_eq!(map.encode(), [0xa2, 0x01, 0x02, 0x03, 0x04]);
    }
}
