//! Access control (BaRS 1.3): a sending organisation the receiver does not admit is refused
//! 401 `REC_UNAUTHORIZED`. Which organisation a receiver refuses is its own policy, so the user
//! names one (`--refused-organisation`); without it the check is skipped.

use bars_fhir::headers::{EndUserOrganisation, encode_base64_json};

use crate::check::{Problem, Verdict};
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::Request;

/// REC-AUTH-001: a slot search sent for an organisation the receiver refuses is 401.
pub async fn refused_organisation(ctx: &Ctx) -> Verdict {
    let Some(ods) = ctx.refused_organisation.as_deref() else {
        return Err(Problem::Skip(
            "no --refused-organisation given: name an organisation the receiver's policy refuses"
                .into(),
        ));
    };
    let service = ctx.service()?.to_string();
    let organisation = EndUserOrganisation {
        ods_code: Some(ods.to_string()),
        name: Some("Organisation the receiver refuses".into()),
    };
    let r = ctx
        .send(
            Request::get(ctx.slot_query(&service, "free"))
                .to(&service)
                .header(
                    "nhsd-end-user-organisation",
                    &encode_base64_json(&organisation.to_json()),
                ),
        )
        .await?;
    ensure!(
        r.status == 401
            && r.bars_code().as_deref() == Some("REC_UNAUTHORIZED")
            && matches!(r.issue_code().as_deref(), Some("security" | "forbidden")),
        "a slot search for organisation {ods} answered {}, not 401 REC_UNAUTHORIZED/security or forbidden",
        r.summary()
    );
    Ok(())
}

/// ERR-TLS-001: a connection that presents no client certificate is refused: 403
/// `REC_FORBIDDEN`, or no answer at all (the TLS handshake refused).
pub async fn no_client_certificate(ctx: &Ctx) -> Verdict {
    if !ctx.wire.base().starts_with("https://") {
        return Err(Problem::Skip(
            "the receiver is reached over plain HTTP: there is no TLS-MA to check".into(),
        ));
    }
    if !ctx.wire.has_anonymous() {
        return Err(Problem::Skip(
            "the kit has no TLS settings for this receiver: give --ca".into(),
        ));
    }
    let service = ctx.service()?.to_string();
    let request = Request::get(ctx.slot_query(&service, "free")).to(&service);
    match ctx.wire.send_anonymously(&request).await {
        // Refused at the handshake: the receiver never saw the request.
        Err(_) => Ok(()),
        Ok(r) => {
            ensure!(
                r.status == 403
                    && r.bars_code().as_deref() == Some("REC_FORBIDDEN")
                    && matches!(r.issue_code().as_deref(), Some("forbidden" | "security")),
                "a slot search over a connection without a client certificate answered {}, not 403 REC_FORBIDDEN",
                r.summary()
            );
            Ok(())
        }
    }
}
