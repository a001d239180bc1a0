//! Certificates made at test time with the openssl command: a test CA, server certificates it
//! signs (for the names and addresses a test picks, valid or already expired), and a second,
//! unrelated CA to be the wrong one. Elliptic-curve keys: quick to make.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::require_tool;

/// A certificate authority: its certificate and key in PEM files.
#[derive(Debug, Clone)]
pub struct TestCa {
    pub cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
}

/// `openssl ca` settings for [`TestCa::sign_expired`]: only `ca` takes explicit dates.
const CA_CONFIG: &str = "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n\
new_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\n\
unique_subject = no\n[any]\ncommonName = supplied\n";

/// A server certificate and its key, in PEM files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    require_tool("openssl");
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// A CA named `name`, with files `<name>-ca.pem` and `<name>-ca.key` in `dir`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let cert = dir.join(format!("{name}-ca.pem"));
        let key = dir.join(format!("{name}-ca.key"));
        let subject = format!("/CN=sipterm test CA {name}");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
                "-days",
                "2",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            dir,
        );
        TestCa {
            cert,
            key,
            dir: dir.to_path_buf(),
        }
    }

    /// A server certificate for `names` (e.g. `IP:127.0.0.1`, `DNS:sip.example.com`), valid
    /// from now for a day, or (with `expired`) valid only on 2020-01-01.
    pub fn issue(&self, file: &str, names: &[&str], expired: bool) -> ServerCert {
        let key = self.dir.join(format!("{file}.key"));
        let csr = self.dir.join(format!("{file}.csr"));
        let cert = self.dir.join(format!("{file}.pem"));
        let ext = self.dir.join(format!("{file}.ext"));
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
                 extendedKeyUsage=serverAuth\n",
                names.join(",")
            ),
        )
        .expect("write the extensions file");
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                csr.to_str().unwrap(),
                "-subj",
                &format!("/CN={file}"),
            ],
            &self.dir,
        );
        if expired {
            self.sign_expired(&csr, &cert, &ext);
        } else {
            openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    csr.to_str().unwrap(),
                    "-CA",
                    self.cert.to_str().unwrap(),
                    "-CAkey",
                    self.key.to_str().unwrap(),
                    "-CAcreateserial",
                    "-out",
                    cert.to_str().unwrap(),
                    "-days",
                    "1",
                    "-extfile",
                    ext.to_str().unwrap(),
                ],
                &self.dir,
            );
        }
        ServerCert { cert, key }
    }

    /// Signs `csr` with a validity that ended long ago (2020-01-01 to 2020-01-02): `openssl
    /// x509` cannot date a certificate in the past, `openssl ca` can.
    fn sign_expired(&self, csr: &Path, cert: &Path, ext: &Path) {
        let ca_dir = self.dir.join("expired-ca");
        std::fs::create_dir_all(&ca_dir).expect("make the openssl ca dir");
        std::fs::write(ca_dir.join("ca.cnf"), CA_CONFIG).expect("write ca.cnf");
        std::fs::write(ca_dir.join("index.txt"), "").expect("write index.txt");
        std::fs::write(ca_dir.join("serial"), "01\n").expect("write serial");
        openssl(
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                self.cert.to_str().unwrap(),
                "-keyfile",
                self.key.to_str().unwrap(),
                "-in",
                csr.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
                "-extfile",
                ext.to_str().unwrap(),
                "-notext",
            ],
            &ca_dir,
        );
    }
}
