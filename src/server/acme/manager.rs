//! The task that obtains the certificate and renews it: one loop that orders, waits for
//! the renewal time (or ARI's window), and backs off after failures (see the module doc of
//! `acme` for the policy; the decisions it takes are the pure functions there).

use super::challenges::{challenge_certificate, http_client, Armed};
use super::*;

/// What the CA's renewal information (ARI) said for one certificate.
struct Ari {
    fingerprint: String,
    /// When to renew (Unix seconds), if the CA supports ARI for this certificate.
    at: Option<i64>,
    /// When to ask again.
    next: i64,
}

/// The task that obtains the certificate and renews it (see the module doc).
pub struct Manager {
    settings: AcmeSettings,
    /// Puts a new certificate in service (the HTTPS listener's resolver).
    install: Install,
    challenges: Arc<Challenges>,
    /// The certificate being served, unless it is the temporary self-signed one.
    current: Option<Loaded>,
    account: Option<Account>,
    ari: Option<Ari>,
    /// The CA offers ARI: a renewal order names the certificate it replaces.
    ari_supported: bool,
}

impl Manager {
    pub fn new(settings: AcmeSettings, install: Install, challenges: Arc<Challenges>, kept: Option<Loaded>) -> Manager {
        Manager { settings, install, challenges, current: kept, account: None, ari: None, ari_supported: false }
    }

    /// Obtain, then renew, until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        match &self.current {
            Some(kept) => tracing::info!(
                names = ?self.settings.names,
                expires = %date(kept.not_after),
                fingerprint = %kept.fingerprint,
                "ACME: serving the certificate kept in {}", self.settings.store().display()
            ),
            None => tracing::info!(
                names = ?self.settings.names,
                "ACME: no certificate yet: serving a temporary self-signed one until {} issues one", self.settings.directory
            ),
        }
        let mut failures = 0u32;
        let mut announced = None;
        loop {
            let now = unix_now(SystemTime::now());
            let due = match self.current.clone() {
                Some(current) if !current.covers(&self.settings.names) => {
                    tracing::info!(has = ?current.names, wanted = ?self.settings.names, "ACME: the certificate lacks names: ordering a new one");
                    now
                }
                Some(current) => self.renewal_time(&current, now).await,
                None => now,
            };
            if due > now {
                if announced != Some(due) {
                    tracing::info!(at = %date(due), "ACME: renewal scheduled, in {}", humane(due - now));
                    announced = Some(due);
                }
                let wait = Duration::from_secs((due - now) as u64).min(WAKE_EVERY);
                if !pause(wait, &mut shutdown).await {
                    return;
                }
                continue;
            }
            let attempt = tokio::select! {
                attempt = tokio::time::timeout(ORDER_TIMEOUT, self.obtain()) => attempt,
                _ = shutdown.wait_for(|down| *down) => return,
            };
            match attempt.unwrap_or_else(|_| Err(format!("no certificate within {ORDER_TIMEOUT:?}"))) {
                Ok(loaded) => {
                    metrics::counter!("noom_acme_orders_total", "result" => "ok").increment(1);
                    tracing::info!(
                        names = ?loaded.names,
                        expires = %date(loaded.not_after),
                        fingerprint = %loaded.fingerprint,
                        "ACME: certificate obtained and served from now on"
                    );
                    (self.install)(&loaded);
                    self.current = Some(loaded);
                    failures = 0;
                }
                Err(e) => {
                    metrics::counter!("noom_acme_orders_total", "result" => "failed").increment(1);
                    failures += 1;
                    // The CA does not know the kept account (deactivated, or a private or
                    // test CA that was reset): put it aside and make a new one, at once
                    // the first time.
                    let mut delay = retry_delay(failures);
                    if e.contains("accountDoesNotExist") {
                        self.forget_account();
                        if failures == 1 {
                            delay = Duration::ZERO;
                        }
                    }
                    tracing::warn!(failures, retry_in_secs = delay.as_secs(), "ACME: no certificate from {}: {e}", self.settings.directory);
                    if !pause(delay, &mut shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// When to renew `current`: the CA's ARI window if it has one, else [`renew_at`];
    /// never later than 90 % through its life.
    async fn renewal_time(&mut self, current: &Loaded, now: i64) -> i64 {
        let own = renew_at(current.not_before, current.not_after);
        let stale = self.ari.as_ref().is_none_or(|a| a.fingerprint != current.fingerprint || a.next <= now);
        if stale && own > now {
            let ari = self.ask_ari(current, now).await;
            self.ari = Some(ari);
        }
        let chosen = match self.ari.as_ref().filter(|a| a.fingerprint == current.fingerprint).and_then(|a| a.at) {
            Some(at) => at,
            None => own,
        };
        let latest = current.not_after - (current.not_after - current.not_before).max(0) / 10;
        chosen.min(latest)
    }

    async fn ask_ari(&mut self, current: &Loaded, now: i64) -> Ari {
        let mut ari = Ari { fingerprint: current.fingerprint.clone(), at: None, next: now + WAKE_EVERY.as_secs() as i64 };
        let Ok(leaf) = current.key.end_entity_cert() else { return ari };
        let Ok(id) = CertificateIdentifier::try_from(leaf) else {
            ari.next = i64::MAX; // no authority key identifier: never an ARI answer
            return ari;
        };
        let asked = tokio::time::timeout(Duration::from_secs(60), async {
            let account = self.account().await?;
            account.renewal_info(&id).await.map_err(|e| why(&e))
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        match asked {
            Ok((info, retry_after)) => {
                self.ari_supported = true;
                let window = info.suggested_window;
                let at = random_in(window.start.unix_timestamp(), window.end.unix_timestamp());
                let again = retry_after.clamp(WAKE_EVERY, WAKE_EVERY * 24);
                ari.at = Some(at);
                ari.next = now + again.as_secs() as i64;
                tracing::debug!(start = %date(window.start.unix_timestamp()), end = %date(window.end.unix_timestamp()), "ACME: renewal window from the CA (ARI)");
            }
            Err(e) if e.contains("does not support") => ari.next = i64::MAX,
            Err(e) => tracing::debug!("ACME: no renewal information from the CA: {e}"),
        }
        ari
    }

    /// Put the kept account aside (`account.json.rejected`): the next order makes a new one.
    fn forget_account(&mut self) {
        self.account = None;
        let path = self.settings.store().join("account.json");
        let aside = path.with_extension("json.rejected");
        match std::fs::rename(&path, &aside) {
            Ok(()) => tracing::warn!("ACME: the CA does not know the account kept in {}: moved to {}, making a new one", path.display(), aside.display()),
            Err(e) => tracing::warn!("ACME: cannot move the rejected account {} aside: {e}", path.display()),
        }
    }

    /// The ACME account: the one kept for this CA, else a new one (kept from then on).
    async fn account(&mut self) -> Result<Account, String> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let store = self.settings.store();
        let path = store.join("account.json");
        let http = http_client(self.settings.ca_cert.as_deref())?;
        let account = match std::fs::read(&path) {
            Ok(bytes) => {
                let credentials: AccountCredentials =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                Account::builder_with_http(http).from_credentials(credentials).await.map_err(|e| format!("the CA: {}", why(&e)))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let contact = self.settings.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
                let (account, credentials) = Account::builder_with_http(http)
                    .create(&new, self.settings.directory.clone(), None)
                    .await
                    .map_err(|e| format!("creating an account: {}", why(&e)))?;
                make_private_dir(&store).map_err(|e| format!("{}: {e}", store.display()))?;
                let json = serde_json::to_vec_pretty(&credentials).map_err(|e| e.to_string())?;
                write_private(&path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::info!(id = %account.id(), "ACME: account created, kept in {}", path.display());
                account
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// One order, start to finish: the certificate, checked and written to the data dir.
    async fn obtain(&mut self) -> Result<Loaded, String> {
        let account = self.account().await?;
        let identifiers = self.settings.identifiers();
        let profile = choose_profile(&identifiers, account.profiles().map(|p| p.name));
        let replaces = match (&self.current, self.ari_supported) {
            (Some(current), true) => current.key.end_entity_cert().ok().and_then(|c| CertificateIdentifier::try_from(c).ok()).map(|id| id.into_owned()),
            _ => None,
        };
        tracing::info!(
            names = ?self.settings.names,
            profile = profile.unwrap_or("(the CA's default)"),
            challenge = ?self.settings.challenge,
            renewal = self.current.is_some(),
            "ACME: ordering a certificate from {}", self.settings.directory
        );
        let mut new_order = NewOrder::new(&identifiers);
        if let Some(profile) = profile {
            new_order = new_order.profile(profile);
        }
        let mut order = match replaces {
            Some(replaces) => match account.new_order(&new_order.replaces(replaces)).await {
                Ok(order) => order,
                // The CA would not take it as a replacement (already replaced, another CA's
                // certificate): an order of its own then.
                Err(e) => {
                    tracing::debug!("ACME: order as a replacement refused ({e}): ordering anew");
                    let mut plain = NewOrder::new(&identifiers);
                    if let Some(profile) = profile {
                        plain = plain.profile(profile);
                    }
                    account.new_order(&plain).await.map_err(|e| format!("new order: {}", why(&e)))?
                }
            },
            None => account.new_order(&new_order).await.map_err(|e| format!("new order: {}", why(&e)))?,
        };

        let _armed = Armed(&self.challenges);
        self.answer_challenges(&mut order).await?;
        let polling = RetryPolicy::new().initial_delay(Duration::from_millis(250)).backoff(1.5).timeout(Duration::from_secs(120));
        let status = order.poll_ready(&polling).await.map_err(|e| format!("waiting for validation: {}", why(&e)))?;
        if status != OrderStatus::Ready {
            return Err(format!("the CA did not validate the order: {}", failure(&mut order).await));
        }

        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = rcgen::CertificateParams::new(self.settings.names.clone()).map_err(|e| e.to_string())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|e| e.to_string())?;
        order.finalize_csr(csr.der()).await.map_err(|e| format!("finalizing: {}", why(&e)))?;
        let chain = order.poll_certificate(&polling).await.map_err(|e| format!("fetching the certificate: {}", why(&e)))?;

        let store = self.settings.store();
        let (cert_path, key_path) = (store.join("cert.pem"), store.join("key.pem"));
        let key_pem = key.serialize_pem();
        let loaded = parse_pair(chain.as_bytes(), key_pem.as_bytes(), &cert_path, &key_path, SystemTime::now())
            .map_err(|e| format!("the CA's certificate is unusable: {e}"))?;
        if !loaded.covers(&self.settings.names) {
            return Err(format!("the CA's certificate is for {:?}, not {:?}", loaded.names, self.settings.names));
        }
        make_private_dir(&store).map_err(|e| format!("{}: {e}", store.display()))?;
        write_private(&key_path, key_pem.as_bytes()).map_err(|e| format!("{}: {e}", key_path.display()))?;
        write_private(&cert_path, chain.as_bytes()).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        Ok(loaded)
    }

    /// For each authorization still pending: put up the answer to the chosen challenge
    /// and tell the CA to validate it.
    async fn answer_challenges(&self, order: &mut Order) -> Result<(), String> {
        let wanted = self.settings.challenge;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| format!("authorization: {}", why(&e)))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue, // validated recently, reused by the CA
                other => return Err(format!("authorization for {} is {other:?}", authz.identifier())),
            }
            let offered: Vec<ChallengeType> = authz.challenges.iter().map(|c| c.r#type.clone()).collect();
            // The configured challenge; TLS-ALPN-01 otherwise (the HTTPS port is always
            // there), HTTP-01 only with a plain-HTTP port.
            let kind = [wanted, ChallengeKind::TlsAlpn01]
                .into_iter()
                .find(|k| offered.contains(&k.acme_type()))
                .ok_or_else(|| format!("the CA offers {offered:?} for {}; Noom answers {:?}", authz.identifier(), wanted.acme_type()))?;
            let mut challenge = authz.challenge(kind.acme_type()).ok_or("challenge vanished")?;
            let identifier = match &challenge.identifier().identifier {
                Identifier::Dns(name) => name.to_ascii_lowercase(),
                Identifier::Ip(ip) => ip.to_string(),
                other => return Err(format!("cannot validate identifier {other:?}")),
            };
            let key_authorization = challenge.key_authorization();
            match kind {
                ChallengeKind::TlsAlpn01 => {
                    let cert = challenge_certificate(&identifier, key_authorization.digest().as_ref())?;
                    self.challenges.tls_alpn.write().unwrap_or_else(|e| e.into_inner()).insert(identifier.clone(), cert);
                }
                ChallengeKind::Http01 => {
                    let token = challenge.token.clone();
                    self.challenges.http.write().unwrap_or_else(|e| e.into_inner()).insert(token, key_authorization.as_str().to_string());
                }
            }
            tracing::debug!(%identifier, challenge = ?kind, "ACME: challenge ready");
            challenge.set_ready().await.map_err(|e| format!("challenge for {identifier}: {}", why(&e)))?;
        }
        Ok(())
    }
}

/// Why an order failed: each failed challenge's problem, as the CA put it.
async fn failure(order: &mut Order) -> String {
    let mut reasons = Vec::new();
    if let Some(problem) = &order.state().error {
        reasons.push(problem.to_string());
    }
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if authz.refresh().await.is_err() {
            continue;
        }
        let identifier = authz.identifier().to_string();
        for challenge in &authz.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(format!("{identifier}: {:?}: {problem}", challenge.r#type));
            }
        }
    }
    if reasons.is_empty() {
        "no reason given".into()
    } else {
        reasons.join("; ")
    }
}

/// An error with its causes ("client error (Connect): tcp connect error: Connection
/// refused"): what an operator needs to see in the log.
pub(super) fn why(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// `secs` for people: `40 s`, `25 min`, `7 h`, `29 days`.
pub(super) fn humane(secs: i64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 7200 {
        format!("{} min", secs / 60)
    } else if secs < 2 * 86_400 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} days", secs / 86_400)
    }
}

/// Wait `d`, or less if the server stops: false then.
async fn pause(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.wait_for(|down| *down) => false,
    }
}

/// Create `dir` (and its parents), readable by the owner only.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
