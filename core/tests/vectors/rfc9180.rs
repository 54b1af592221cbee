//! rfc9180.json: RFC 9180 Appendix A base-mode test vectors, checked against the `hpke` crate
//! configuration that conclave-core uses, against conclave-core's own HPKE functions (for the
//! suite-1 configuration, A.5.1), and against a minimal RFC 9180 key schedule written here.
//!
//! The numeric values below are copied from RFC 9180 Appendix A (published as Appendix B of
//! draft-irtf-cfrg-hpke-12, file `auth48/draft-irtf-cfrg-hpke.txt` of the
//! cfrg/draft-irtf-cfrg-hpke repository).

use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use conclave_core::CipherSuite;
use conclave_core::hpke::HpkeKeyPair;
use hkdf::Hkdf;
use hpke::aead::{Aead, AesGcm128, ChaCha20Poly1305};
use hpke::kdf::{HkdfSha256, Kdf};
use hpke::kem::{DhP256HkdfSha256, X25519HkdfSha256};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::{FixedRng, file, hx, list, num, text};

const SOURCE: &str = "RFC 9180 (Barnes, Bhargavan, Lipp, Wood: Hybrid Public Key Encryption, \
    February 2022), Appendix A; values copied from the RFC-to-be text, \
    https://github.com/cfrg/draft-irtf-cfrg-hpke/blob/8fc0f527186afec23fe2f79992066bff9a8ccfec/auth48/draft-irtf-cfrg-hpke.txt \
    (draft-irtf-cfrg-hpke-12, where the test vectors are Appendix B.2.1, B.3.1 and B.5.1), \
    which are RFC 9180 Appendix A.2.1, A.3.1 and A.5.1.";

const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";

struct Rfc {
    section: &'static str,
    suite: &'static str,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    ikm_e: &'static str,
    pk_em: &'static str,
    sk_em: &'static str,
    ikm_r: &'static str,
    pk_rm: &'static str,
    sk_rm: &'static str,
    enc: &'static str,
    shared_secret: &'static str,
    key_schedule_context: &'static str,
    secret: &'static str,
    key: &'static str,
    base_nonce: &'static str,
    exporter_secret: &'static str,
    /// (sequence number, aad, nonce, ciphertext)
    encryptions: [(u64, &'static str, &'static str, &'static str); 6],
    /// exported values for the contexts "", "00" and "TestContext", L = 32
    exports: [&'static str; 3],
}

const EXPORT_CONTEXTS: [&str; 3] = ["", "00", "54657374436f6e74657874"];

const VECTORS: [Rfc; 3] = [
    Rfc {
        section: "A.2.1",
        suite: "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305; base mode",
        kem_id: 0x0020,
        kdf_id: 0x0001,
        aead_id: 0x0003,
        ikm_e: "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b",
        pk_em: "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
        sk_em: "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
        ikm_r: "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
        pk_rm: "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
        sk_rm: "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
        enc: "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
        shared_secret: "0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7",
        key_schedule_context: "00431df6cd95e11ff49d7013563baf7f11588c75a6611ee2a4404a49306ae4cfc5b69c5718a60cc5876c358d3f7fc31ddb598503f67be58ea1e798c0bb19eb9796",
        secret: "5b9cd775e64b437a2335cf499361b2e0d5e444d5cb41a8a53336d8fe402282c6",
        key: "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91",
        base_nonce: "5c4d98150661b848853b547f",
        exporter_secret: "a3b010d4994890e2c6968a36f64470d3c824c8f5029942feb11e7a74b2921922",
        encryptions: [
            (
                0,
                "436f756e742d30",
                "5c4d98150661b848853b547f",
                "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
            ),
            (
                1,
                "436f756e742d31",
                "5c4d98150661b848853b547e",
                "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c",
            ),
            (
                2,
                "436f756e742d32",
                "5c4d98150661b848853b547d",
                "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f878fae86b",
            ),
            (
                4,
                "436f756e742d34",
                "5c4d98150661b848853b547b",
                "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e54a50dbe16",
            ),
            (
                255,
                "436f756e742d323535",
                "5c4d98150661b848853b5480",
                "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c",
            ),
            (
                256,
                "436f756e742d323536",
                "5c4d98150661b848853b557f",
                "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076214c0c40d4c728d6ed9e727a5b",
            ),
        ],
        exports: [
            "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e",
            "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69",
            "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53",
        ],
    },
    Rfc {
        section: "A.3.1",
        suite: "DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM; base mode",
        kem_id: 0x0010,
        kdf_id: 0x0001,
        aead_id: 0x0001,
        ikm_e: "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e",
        pk_em: "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
        sk_em: "4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb",
        ikm_r: "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550",
        pk_rm: "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
        sk_rm: "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
        enc: "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
        shared_secret: "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8",
        key_schedule_context: "00b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ceefc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed11d493ae1c1d9ac85",
        secret: "2eb7b6bf138f6b5aff857414a058a3f1750054a9ba1f72c2cf0684a6f20b10e1",
        key: "868c066ef58aae6dc589b6cfdd18f97e",
        base_nonce: "4e0bc5018beba4bf004cca59",
        exporter_secret: "14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f",
        encryptions: [
            (
                0,
                "436f756e742d30",
                "4e0bc5018beba4bf004cca59",
                "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434",
            ),
            (
                1,
                "436f756e742d31",
                "4e0bc5018beba4bf004cca58",
                "fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82",
            ),
            (
                2,
                "436f756e742d32",
                "4e0bc5018beba4bf004cca5b",
                "895cabfac50ce6c6eb02ffe6c048bf53b7f7be9a91fc559402cbc5b8dcaeb52b2ccc93e466c28fb55fed7a7fec",
            ),
            (
                4,
                "436f756e742d34",
                "4e0bc5018beba4bf004cca5d",
                "8787491ee8df99bc99a246c4b3216d3d57ab5076e18fa27133f520703bc70ec999dd36ce042e44f0c3169a6a8f",
            ),
            (
                255,
                "436f756e742d323535",
                "4e0bc5018beba4bf004ccaa6",
                "2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848aa53c538c30a4dac71d619ee2cd",
            ),
            (
                256,
                "436f756e742d323536",
                "4e0bc5018beba4bf004ccb59",
                "10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f367f8ffe5e41cd3e9962a6afb2",
            ),
        ],
        exports: [
            "5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d",
            "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796",
            "d8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a",
        ],
    },
    Rfc {
        section: "A.5.1",
        suite: "DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305; base mode (Conclave suite 1)",
        kem_id: 0x0010,
        kdf_id: 0x0001,
        aead_id: 0x0003,
        ikm_e: "f1f1a3bc95416871539ecb51c3a8f0cf608afb40fbbe305c0a72819d35c33f1f",
        pk_em: "04c07836a0206e04e31d8ae99bfd549380b072a1b1b82e563c935c095827824fc1559eac6fb9e3c70cd3193968994e7fe9781aa103f5b50e934b5b2f387e381291",
        sk_em: "7550253e1147aae48839c1f8af80d2770fb7a4c763afe7d0afa7e0f42a5b3689",
        ikm_r: "61092f3f56994dd424405899154a9918353e3e008171517ad576b900ddb275e7",
        pk_rm: "04a697bffde9405c992883c5c439d6cc358170b51af72812333b015621dc0f40bad9bb726f68a5c013806a790ec716ab8669f84f6b694596c2987cf35baba2a006",
        sk_rm: "a4d1c55836aa30f9b3fbb6ac98d338c877c2867dd3a77396d13f68d3ab150d3b",
        enc: "04c07836a0206e04e31d8ae99bfd549380b072a1b1b82e563c935c095827824fc1559eac6fb9e3c70cd3193968994e7fe9781aa103f5b50e934b5b2f387e381291",
        shared_secret: "806520f82ef0b03c823b7fc524b6b55a088f566b9751b89551c170f4113bd850",
        key_schedule_context: "00b738cd703db7b4106e93b4621e9a19c89c838e55964240e5d3f331aaf8b0d58b2e986ea1c671b61cf45eec134dac0bae58ec6f63e790b1400b47c33038b0269c",
        secret: "fe891101629aa355aad68eff3cc5170d057eca0c7573f6575e91f9783e1d4506",
        key: "a8f45490a92a3b04d1dbf6cf2c3939ad8bfc9bfcb97c04bffe116730c9dfe3fc",
        base_nonce: "726b4390ed2209809f58c693",
        exporter_secret: "4f9bd9b3a8db7d7c3a5b9d44fdc1f6e37d5d77689ade5ec44a7242016e6aa205",
        encryptions: [
            (
                0,
                "436f756e742d30",
                "726b4390ed2209809f58c693",
                "6469c41c5c81d3aa85432531ecf6460ec945bde1eb428cb2fedf7a29f5a685b4ccb0d057f03ea2952a27bb458b",
            ),
            (
                1,
                "436f756e742d31",
                "726b4390ed2209809f58c692",
                "f1564199f7e0e110ec9c1bcdde332177fc35c1adf6e57f8d1df24022227ffa8716862dbda2b1dc546c9d114374",
            ),
            (
                2,
                "436f756e742d32",
                "726b4390ed2209809f58c691",
                "39de89728bcb774269f882af8dc5369e4f3d6322d986e872b3a8d074c7c18e8549ff3f85b6d6592ff87c3f310c",
            ),
            (
                4,
                "436f756e742d34",
                "726b4390ed2209809f58c697",
                "bc104a14fbede0cc79eeb826ea0476ce87b9c928c36e5e34dc9b6905d91473ec369a08b1a25d305dd45c6c5f80",
            ),
            (
                255,
                "436f756e742d323535",
                "726b4390ed2209809f58c66c",
                "8f2814a2c548b3be50259713c6724009e092d37789f6856553d61df23ebc079235f710e6af3c3ca6eaba7c7c6c",
            ),
            (
                256,
                "436f756e742d323536",
                "726b4390ed2209809f58c793",
                "b45b69d419a9be7219d8c94365b89ad6951caf4576ea4774ea40e9b7047a09d6537d1aa2f7c12d6ae4b729b4d0",
            ),
        ],
        exports: [
            "9b13c510416ac977b553bf1741018809c246a695f45eff6d3b0356dbefe1e660",
            "6c8b7be3a20a5684edecb4253619d9051ce8583baf850e0cb53c402bdcaf8ebb",
            "477a50d804c7c51941f69b8e32fe8288386ee1a84905fe4938d58972f24ac938",
        ],
    },
];

pub fn generate() -> Value {
    let cases: Vec<Value> = VECTORS
        .iter()
        .map(|r| {
            let mut m = Map::new();
            let fields: [(&str, Value); 21] = [
                ("section", json!(r.section)),
                ("suite", json!(r.suite)),
                ("mode", json!(0)),
                ("kem_id", json!(r.kem_id)),
                ("kdf_id", json!(r.kdf_id)),
                ("aead_id", json!(r.aead_id)),
                ("info", json!(INFO)),
                ("ikmE", json!(r.ikm_e)),
                ("pkEm", json!(r.pk_em)),
                ("skEm", json!(r.sk_em)),
                ("ikmR", json!(r.ikm_r)),
                ("pkRm", json!(r.pk_rm)),
                ("skRm", json!(r.sk_rm)),
                ("enc", json!(r.enc)),
                ("shared_secret", json!(r.shared_secret)),
                ("key_schedule_context", json!(r.key_schedule_context)),
                ("secret", json!(r.secret)),
                ("key", json!(r.key)),
                ("base_nonce", json!(r.base_nonce)),
                ("exporter_secret", json!(r.exporter_secret)),
                (
                    "encryptions",
                    json!(
                        r.encryptions
                            .iter()
                            .map(|(seq, aad, nonce, ct)| json!({
                                "sequence_number": seq,
                                "pt": PT,
                                "aad": aad,
                                "nonce": nonce,
                                "ct": ct,
                            }))
                            .collect::<Vec<_>>()
                    ),
                ),
            ];
            for (k, v) in fields {
                m.insert(k.into(), v);
            }
            m.insert(
                "exports".into(),
                json!(
                    EXPORT_CONTEXTS
                        .iter()
                        .zip(r.exports)
                        .map(|(ctx, value)| json!({
                            "exporter_context": ctx,
                            "L": 32,
                            "exported_value": value,
                        }))
                        .collect::<Vec<_>>()
                ),
            );
            Value::Object(m)
        })
        .collect();
    file(
        "RFC 9180 (HPKE) Appendix A base-mode test vectors. They check that the hpke crate \
         configuration used by conclave-core implements RFC 9180 with the right KEM, KDF and AEAD \
         ids and labels: A.3.1 pins DHKEM(P-256, HKDF-SHA256) (0x0010) and HKDF-SHA256 (0x0001), \
         A.2.1 pins ChaCha20Poly1305 (0x0003), and A.5.1 is exactly Conclave suite 1 \
         (0x0010, 0x0001, 0x0003), also checked through conclave_core::hpke.",
        vec![("source", json!(SOURCE))],
        vec![("base", json!(cases))],
    )
}

// ---- A minimal RFC 9180 key schedule (sections 4, 5.1, 5.2, 5.3, 7.1.3), for the independent check.

fn i2osp(v: u64, n: usize) -> Vec<u8> {
    v.to_be_bytes()[8 - n..].to_vec()
}

fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &str, ikm: &[u8]) -> Vec<u8> {
    let mut labeled = b"HPKE-v1".to_vec();
    labeled.extend_from_slice(suite_id);
    labeled.extend_from_slice(label.as_bytes());
    labeled.extend_from_slice(ikm);
    Hkdf::<Sha256>::extract(Some(salt), &labeled).0.to_vec()
}

fn labeled_expand(suite_id: &[u8], prk: &[u8], label: &str, info: &[u8], len: usize) -> Vec<u8> {
    let mut labeled = i2osp(len as u64, 2);
    labeled.extend_from_slice(b"HPKE-v1");
    labeled.extend_from_slice(suite_id);
    labeled.extend_from_slice(label.as_bytes());
    labeled.extend_from_slice(info);
    let mut out = vec![0u8; len];
    Hkdf::<Sha256>::from_prk(prk)
        .unwrap()
        .expand(&labeled, &mut out)
        .unwrap();
    out
}

/// DHKEM(P-256, HKDF-SHA256) DeriveKeyPair (RFC 9180 section 7.1.3): (skX, pkXm).
fn p256_derive_key_pair(kem_id: u16, ikm: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let suite = [b"KEM".as_slice(), &i2osp(u64::from(kem_id), 2)].concat();
    let dkp_prk = labeled_extract(&suite, b"", "dkp_prk", ikm);
    for counter in 0..=255u64 {
        let bytes = labeled_expand(&suite, &dkp_prk, "candidate", &i2osp(counter, 1), 32);
        if let Ok(sk) = p256::SecretKey::from_slice(&bytes) {
            let pk = p256::ecdsa::VerifyingKey::from(&p256::ecdsa::SigningKey::from(sk.clone()));
            return (bytes, pk.to_sec1_point(false).as_bytes().to_vec());
        }
    }
    panic!("DeriveKeyPair failed")
}

/// DHKEM(P-256, HKDF-SHA256) Encap with a given ephemeral secret: shared_secret.
fn p256_shared_secret(kem_id: u16, sk_e: &[u8], pk_em: &[u8], pk_rm: &[u8]) -> Vec<u8> {
    let suite = [b"KEM".as_slice(), &i2osp(u64::from(kem_id), 2)].concat();
    let sk = p256::SecretKey::from_slice(sk_e).unwrap();
    let pk = p256::PublicKey::from_sec1_bytes(pk_rm).unwrap();
    let dh = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
    let kem_context = [pk_em, pk_rm].concat();
    let eae_prk = labeled_extract(&suite, b"", "eae_prk", dh.raw_secret_bytes().as_slice());
    labeled_expand(&suite, &eae_prk, "shared_secret", &kem_context, 32)
}

fn check_key_schedule(c: &Value) {
    let (kem, kdf, aead) = (num(c, "kem_id"), num(c, "kdf_id"), num(c, "aead_id"));
    let suite = [
        b"HPKE".as_slice(),
        &i2osp(kem, 2),
        &i2osp(kdf, 2),
        &i2osp(aead, 2),
    ]
    .concat();
    let (nk, nn) = match aead {
        1 => (16, 12),
        3 => (32, 12),
        other => panic!("unexpected AEAD {other}"),
    };
    let psk_id_hash = labeled_extract(&suite, b"", "psk_id_hash", b"");
    let info_hash = labeled_extract(&suite, b"", "info_hash", &hx(c, "info"));
    let ksc = [vec![0u8], psk_id_hash, info_hash].concat();
    assert_eq!(hx(c, "key_schedule_context"), ksc);
    let secret = labeled_extract(&suite, &hx(c, "shared_secret"), "secret", b"");
    assert_eq!(hx(c, "secret"), secret);
    let key = labeled_expand(&suite, &secret, "key", &ksc, nk);
    assert_eq!(hx(c, "key"), key);
    let base_nonce = labeled_expand(&suite, &secret, "base_nonce", &ksc, nn);
    assert_eq!(hx(c, "base_nonce"), base_nonce);
    let exporter_secret = labeled_expand(&suite, &secret, "exp", &ksc, 32);
    assert_eq!(hx(c, "exporter_secret"), exporter_secret);
    for e in list(c, "encryptions") {
        let seq = num(e, "sequence_number");
        let mut seq_be = vec![0u8; nn - 8];
        seq_be.extend_from_slice(&seq.to_be_bytes());
        let nonce: Vec<u8> = base_nonce.iter().zip(&seq_be).map(|(a, b)| a ^ b).collect();
        assert_eq!(hx(e, "nonce"), nonce, "nonce of sequence {seq}");
        assert_eq!(
            hx(e, "aad"),
            format!("Count-{seq}").into_bytes(),
            "aad of sequence {seq}"
        );
        if aead == 3 {
            let cipher = chacha20poly1305::ChaCha20Poly1305::new(
                &chacha20poly1305::Key::try_from(key.as_slice()).unwrap(),
            );
            let ct = cipher
                .encrypt(
                    &chacha20poly1305::Nonce::try_from(nonce.as_slice()).unwrap(),
                    Payload {
                        msg: &hx(e, "pt"),
                        aad: &hx(e, "aad"),
                    },
                )
                .unwrap();
            assert_eq!(
                hx(e, "ct"),
                ct,
                "ChaCha20Poly1305 ciphertext of sequence {seq}"
            );
        }
    }
    for x in list(c, "exports") {
        let value = labeled_expand(
            &suite,
            &exporter_secret,
            "sec",
            &hx(x, "exporter_context"),
            num(x, "L") as usize,
        );
        assert_eq!(hx(x, "exported_value"), value);
    }
    if kem == 0x0010 {
        let kem_id = kem as u16;
        assert_eq!(
            p256_derive_key_pair(kem_id, &hx(c, "ikmE")),
            (hx(c, "skEm"), hx(c, "pkEm"))
        );
        assert_eq!(
            p256_derive_key_pair(kem_id, &hx(c, "ikmR")),
            (hx(c, "skRm"), hx(c, "pkRm"))
        );
        assert_eq!(hx(c, "enc"), hx(c, "pkEm"));
        assert_eq!(
            p256_shared_secret(kem_id, &hx(c, "skEm"), &hx(c, "pkEm"), &hx(c, "pkRm")),
            hx(c, "shared_secret")
        );
    }
}

/// X25519 private keys are compared after clamping (RFC 7748 section 5): RFC 9180 lists the
/// derived bytes, x25519-dalek serializes the clamped scalar; both are the same key.
fn normalize_sk(kem_id: u16, sk: &[u8]) -> Vec<u8> {
    let mut sk = sk.to_vec();
    if kem_id == 0x0020 {
        sk[0] &= 248;
        sk[31] &= 127;
        sk[31] |= 64;
    }
    sk
}

/// Runs a case through the `hpke` crate with the given (AEAD, KDF, KEM) types.
fn check_crate<A: Aead, K: Kdf, M: Kem>(c: &Value) {
    assert_eq!(
        (
            u64::from(M::KEM_ID),
            u64::from(K::KDF_ID),
            u64::from(A::AEAD_ID)
        ),
        (num(c, "kem_id"), num(c, "kdf_id"), num(c, "aead_id"))
    );
    let info = hx(c, "info");
    let (sk_r, pk_r) = M::derive_keypair(&hx(c, "ikmR"));
    assert_eq!(pk_r.to_bytes().as_slice(), &hx(c, "pkRm")[..]);
    assert_eq!(
        normalize_sk(M::KEM_ID, sk_r.to_bytes().as_slice()),
        normalize_sk(M::KEM_ID, &hx(c, "skRm"))
    );
    let (sk_e, pk_e) = M::derive_keypair(&hx(c, "ikmE"));
    assert_eq!(pk_e.to_bytes().as_slice(), &hx(c, "pkEm")[..]);
    assert_eq!(
        normalize_sk(M::KEM_ID, sk_e.to_bytes().as_slice()),
        normalize_sk(M::KEM_ID, &hx(c, "skEm"))
    );

    // The sender draws exactly ikmE from its random source.
    let (enc, mut sender) = hpke::setup_sender_with_rng::<A, K, M>(
        &OpModeS::Base,
        &pk_r,
        &info,
        &mut FixedRng::new(&hx(c, "ikmE")),
    )
    .unwrap();
    assert_eq!(enc.to_bytes().as_slice(), &hx(c, "enc")[..]);
    let encryptions = list(c, "encryptions");
    let last = num(encryptions.last().unwrap(), "sequence_number");
    let mut produced = Vec::new();
    for seq in 0..=last {
        let listed = encryptions
            .iter()
            .find(|e| num(e, "sequence_number") == seq);
        let (aad, pt) = match listed {
            Some(e) => (hx(e, "aad"), hx(e, "pt")),
            None => (
                format!("Count-{seq}").into_bytes(),
                hex::decode(PT).unwrap(),
            ),
        };
        let ct = sender.seal(&pt, &aad).unwrap();
        if let Some(e) = listed {
            assert_eq!(ct, hx(e, "ct"), "{} sequence {seq}", text(c, "section"));
        }
        produced.push((aad, pt, ct));
    }
    for x in list(c, "exports") {
        let mut out = vec![0u8; num(x, "L") as usize];
        sender.export(&hx(x, "exporter_context"), &mut out).unwrap();
        assert_eq!(out, hx(x, "exported_value"));
    }

    // The receiver, from the serialized skRm and enc, opens every produced ciphertext in order.
    let sk = M::PrivateKey::from_bytes(&hx(c, "skRm")).unwrap();
    let enc = M::EncappedKey::from_bytes(&hx(c, "enc")).unwrap();
    let mut receiver = hpke::setup_receiver::<A, K, M>(&OpModeR::Base, &sk, &enc, &info).unwrap();
    for (aad, pt, ct) in &produced {
        assert_eq!(&receiver.open(ct, aad).unwrap(), pt);
    }
    for x in list(c, "exports") {
        let mut out = vec![0u8; num(x, "L") as usize];
        receiver
            .export(&hx(x, "exporter_context"), &mut out)
            .unwrap();
        assert_eq!(out, hx(x, "exported_value"));
    }
}

/// Runs the suite-1 case (A.5.1) through conclave-core's own HPKE functions.
fn check_core_suite_1(c: &Value) {
    let suite = CipherSuite::P256Sha256ChaCha20Poly1305;
    let (kem, kdf, aead) = suite.hpke_ids();
    assert_eq!(
        (u64::from(kem), u64::from(kdf), u64::from(aead)),
        (num(c, "kem_id"), num(c, "kdf_id"), num(c, "aead_id"))
    );
    let kp = HpkeKeyPair::derive(suite, &hx(c, "ikmR"));
    assert_eq!(kp.public_key(), &hx(c, "pkRm")[..]);
    let generated = HpkeKeyPair::generate(suite, &mut FixedRng::new(&hx(c, "ikmR")));
    assert_eq!(generated.public_key(), &hx(c, "pkRm")[..]);
    let first = &list(c, "encryptions")[0];
    assert_eq!(num(first, "sequence_number"), 0);
    let (info, aad, pt) = (hx(c, "info"), hx(first, "aad"), hx(first, "pt"));
    let (enc, ct) = conclave_core::hpke::seal(
        suite,
        &hx(c, "pkRm"),
        &info,
        &aad,
        &pt,
        &mut FixedRng::new(&hx(c, "ikmE")),
    )
    .unwrap();
    assert_eq!(enc, hx(c, "enc"));
    assert_eq!(ct, hx(first, "ct"));
    assert_eq!(&kp.open(&enc, &info, &aad, &ct).unwrap()[..], &pt[..]);
}

pub fn verify(v: &Value) {
    assert!(text(v, "source").contains("RFC 9180"));
    let cases = list(&v["cases"], "base");
    let sections: Vec<&str> = cases.iter().map(|c| text(c, "section")).collect();
    assert_eq!(sections, ["A.2.1", "A.3.1", "A.5.1"]);
    for c in cases {
        assert_eq!(num(c, "mode"), 0);
        check_key_schedule(c);
        match (num(c, "kem_id"), num(c, "kdf_id"), num(c, "aead_id")) {
            (0x0020, 0x0001, 0x0003) => {
                check_crate::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(c)
            }
            (0x0010, 0x0001, 0x0001) => check_crate::<AesGcm128, HkdfSha256, DhP256HkdfSha256>(c),
            (0x0010, 0x0001, 0x0003) => {
                check_crate::<ChaCha20Poly1305, HkdfSha256, DhP256HkdfSha256>(c);
                check_core_suite_1(c);
            }
            other => panic!("no check for {other:?}"),
        }
    }
    // The suite-1 configuration is the one the RFC vector above pins.
    assert_eq!(
        CipherSuite::P256Sha256ChaCha20Poly1305.hpke_ids(),
        (
            DhP256HkdfSha256::KEM_ID,
            HkdfSha256::KDF_ID,
            ChaCha20Poly1305::AEAD_ID
        )
    );
}
