//! The authorization code flow as a relying party configured for Keycloak would run it.

use kenpo_e2e::{Browser, TestIdp, dual_backend_test};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};

fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("http")
}

dual_backend_test!(code_flow_with_pkce_yields_verified_id_token, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let http = http();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(idp.issuer(&f.realm)).expect("issuer"), &http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(f.client_id.clone()),
        Some(ClientSecret::new(f.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(f.redirect_uri.clone()).expect("redirect"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new();
    let login = browser.follow(browser.get(auth_url.as_str()).await, &idp.base_url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("ログイン"));
    let done = browser.submit_login(&login, &f.username.to_uppercase(), &f.password, &[]).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.query_param("state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(done.query_param("iss"), Some(idp.issuer(&f.realm)));
    let code = done.query_param("code").expect("code");

    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("exchange")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token response");
    let id_token = token.id_token().expect("id token");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("verified claims");
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some(f.username.as_str()));
    assert_eq!(claims.email().map(|e| e.as_str()), Some("member01@example.jp"));
    assert!(claims.auth_time().is_some());
    assert!(token.refresh_token().is_some());
});
