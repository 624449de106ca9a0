//! 特定健診結果: the notice, results by year, one item's trend, and the pages for what stands
//! in the way (sign-in too old, second factor missing, no results yet).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::extract::{self, cookie_value, viewer};
use super::handlers::{CsrfForm, expired_page, redirect};
use crate::access::{Access, results_access};
use crate::checkups::{NOTICE_VERSION, view};
use crate::error::PortalError;
use crate::oidc_client::session::{self, Current, SESSION_COOKIE};
use crate::state::AppState;
use crate::store::sessions::SessionRow;
use crate::store::{self, notices, results::ResultRecord};

type Res = Result<HttpResponse, PortalError>;

/// The member's session, or the response that replaces the page (login, expired page).
async fn signed_in(
    st: &AppState,
    req: &HttpRequest,
    return_to: &str,
) -> Result<Result<SessionRow, HttpResponse>, PortalError> {
    Ok(match session::current(st, cookie_value(req, SESSION_COOKIE)).await? {
        Current::SignedIn(s) => Ok(*s),
        Current::Expired => Err(expired_page(st, req, return_to)),
        Current::Anonymous => {
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", return_to).finish();
            Err(redirect(&format!("/login?{q}")))
        }
    })
}

async fn notice_accepted(st: &AppState, s: &SessionRow) -> Result<bool, PortalError> {
    let subject = s.subject.clone();
    Ok(st.store.run(move |c| notices::accepted(c, &subject, NOTICE_VERSION)).await?)
}

/// Signed in, recently enough, with the factors required and the notice accepted: the
/// member's results (possibly none). Anything else: the response to send instead.
async fn gate(
    st: &AppState,
    req: &HttpRequest,
    return_to: &str,
) -> Result<Result<(SessionRow, Vec<ResultRecord>, bool), HttpResponse>, PortalError> {
    let s = match signed_in(st, req, return_to).await? {
        Ok(s) => s,
        Err(resp) => return Ok(Err(resp)),
    };
    let accepted = notice_accepted(st, &s).await?;
    match results_access(&st.config, s.auth_time, &session::amr(&s), accepted, store::now()) {
        Access::Allowed => {}
        Access::NeedsRecentLogin => {
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", return_to).finish();
            return Ok(Err(redirect(&format!("/login?{q}"))));
        }
        Access::NeedsSecondFactor => {
            #[derive(Serialize)]
            struct Page {
                login_url: &'static str,
            }
            let page = Page { login_url: "/login?next=%2Fresults" };
            let resp = st.pages.render(
                StatusCode::FORBIDDEN,
                "results/second_factor.html",
                extract::locale(req),
                &viewer(st, Some(&s)),
                &page,
            );
            return Ok(Err(resp));
        }
        Access::NeedsNotice => return Ok(Err(redirect("/results/notice"))),
    }
    let Some(key) = session::member_key(&s) else { return Ok(Ok((s, Vec::new(), false))) };
    let records = st.store.run(move |c| store::results::for_member(c, &key)).await?;
    Ok(Ok((s, records, true)))
}

#[derive(Serialize)]
struct NoticePage {
    csrf: String,
}

/// 「健診結果に関する注意事項」, shown before the first view (and after a new version).
pub async fn notice_get(st: web::Data<AppState>, req: HttpRequest) -> Res {
    let s = match signed_in(&st, &req, "/results").await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    let page = NoticePage { csrf: s.csrf.clone() };
    Ok(st.pages.render(StatusCode::OK, "results/notice.html", extract::locale(&req), &viewer(&st, Some(&s)), &page))
}

/// 「健診結果を見る」: remembers the acceptance for this member.
pub async fn notice_post(st: web::Data<AppState>, req: HttpRequest, form: web::Form<CsrfForm>) -> Res {
    let s = match signed_in(&st, &req, "/results").await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    if !session::csrf_ok(&s, &form.csrf) {
        return Ok(st.pages.error(StatusCode::FORBIDDEN, extract::locale(&req), &viewer(&st, Some(&s)), "error.csrf"));
    }
    let subject = s.subject.clone();
    st.store.run(move |c| notices::accept(c, &subject, NOTICE_VERSION, store::now())).await?;
    Ok(redirect("/results"))
}

#[derive(Deserialize)]
pub struct YearQuery {
    year: Option<i32>,
}

#[derive(Serialize)]
struct YearLink {
    year: i32,
    current: bool,
}

#[derive(Serialize)]
struct YearPage {
    years: Vec<YearLink>,
    results: view::YearResults,
}

#[derive(Serialize)]
struct NonePage {
    reason: &'static str,
}

fn none_page(st: &AppState, req: &HttpRequest, s: &SessionRow, has_key: bool) -> HttpResponse {
    let reason = if has_key { "results.none.not_yet" } else { "results.none.no_card" };
    st.pages.render(
        StatusCode::OK,
        "results/none.html",
        extract::locale(req),
        &viewer(st, Some(s)),
        &NonePage { reason },
    )
}

pub async fn results_get(st: web::Data<AppState>, req: HttpRequest, q: web::Query<YearQuery>) -> Res {
    let (s, records, has_key) = match gate(&st, &req, "/results").await? {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    let years = view::years(&records);
    let Some(latest) = years.first().copied() else { return Ok(none_page(&st, &req, &s, has_key)) };
    let year = q.year.filter(|y| years.contains(y)).unwrap_or(latest);
    let english = extract::locale(&req) == kenpo_shared::i18n::Locale::En;
    let Some(results) = view::year_results(&st.reference, &records, year, english) else {
        return Err(PortalError::NotFound);
    };
    let page = YearPage { years: years.iter().map(|y| YearLink { year: *y, current: *y == year }).collect(), results };
    Ok(st.pages.render(StatusCode::OK, "results/year.html", extract::locale(&req), &viewer(&st, Some(&s)), &page))
}

pub async fn item_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let code = path.into_inner();
    let return_to =
        format!("/results/items/{}", url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>());
    let (s, records, has_key) = match gate(&st, &req, &return_to).await? {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    if records.is_empty() {
        return Ok(none_page(&st, &req, &s, has_key));
    }
    let english = extract::locale(&req) == kenpo_shared::i18n::Locale::En;
    let Some(trend) = view::trend(&st.reference, &records, &code, english) else { return Err(PortalError::NotFound) };
    Ok(st.pages.render(StatusCode::OK, "results/item.html", extract::locale(&req), &viewer(&st, Some(&s)), &trend))
}
