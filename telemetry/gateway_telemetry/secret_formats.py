"""Key and token formats of the services an LLM gateway fronts and the tools
around it, taken from the catalogues secret scanners ship, each with where it
came from (standard library only; redaction.py turns them into rules).

Catalogues read, at the tags cited on each format:
- gitleaks v8.30.1, config/gitleaks.toml (the rule id and the line of its
  `regex =`); the maintained catalogue, so it is the first source;
- trufflehog v3.97.0, pkg/detectors/<name>/<name>.go, only where gitleaks has
  no rule for the format (Groq, xAI, Replicate, OpenRouter, LangSmith, Discord
  and Teams Workflows webhooks);
- Microsoft Presidio 2.2.363, presidio-analyzer/presidio_analyzer/
  predefined_recognizers/, for personal data gitleaks does not cover (IBAN,
  US SSN, UK National Insurance number).

How a catalogue pattern becomes one of these (each is RE2, as Promtail runs
it, with exactly one capture group: the secret itself):
- `(?i)` is dropped: it made the literal prefixes case-insensitive too
  (`NPM_`, `GLC_`), and the rules' gates are case-sensitive literals; where
  it covered a body, the body's class holds both cases instead.
- gitleaks' end-of-token suffix (`(?:[\\x60'"\\s;]|\\\\[nr]|$)`) refuses a token
  followed by `&`, `,`, `/` or `.`, common in URLs and prose: it becomes `\\b`
  where the token's last class is word characters only, and nothing where
  the length is exact.
- A prefix that is short, occurs inside words, or begins with the letter of
  a JSON escape (`npm_` after `\\n`, `rk_` after `\\r`) gets LEFT, which takes
  escape pairs whole and refuses a letter or digit before it.
- Presidio's look-arounds become LEFT and `\\b`; its checksums (IBAN mod 97)
  are the kit's (Redaction.checksum), since RE2 has no arithmetic.

Providers with no distinctive format in any catalogue (Cohere, Mistral,
DeepSeek's `sk-` aside, Fireworks, Together, Cerebras, Voyage, Azure OpenAI)
are masked by key name only (`api_key`, `x-api-key`, `Authorization`), as are
an AWS secret access key (40 characters with no prefix: gitleaks has only its
generic keyword rule) and a Datadog application key.
"""

from __future__ import annotations

from typing import NamedTuple, Union

from gateway_telemetry.json_patterns import left_of

LEFT = left_of("A-Za-z0-9_")
LEFT_OF_ID = left_of("0-9A-Za-z_-")

GITLEAKS = "gitleaks v8.30.1 config/gitleaks.toml"
TRUFFLEHOG = "trufflehog v3.97.0 pkg/detectors"
PRESIDIO = "presidio 2.2.363 presidio-analyzer/presidio_analyzer/predefined_recognizers"


class Format(NamedTuple):
    """One key or token format: what redaction.Redaction needs, plus its source."""

    kind: str
    pattern: str
    what: str
    trigger: Union[tuple[str, ...], str]
    source: str
    checksum: str = ""


TOKENS = (
    # --- LLM providers (the Anthropic and OpenAI rules in redaction.py are
    # broader than gitleaks' anthropic-api-key and openai-api-key, and kept).
    Format(
        "openrouter_key",
        r"(sk-or-v1-[0-9a-f]{64})\b",
        "OpenRouter keys (`sk-or-v1-...`)",
        ("sk-or-v1-",),
        f"{TRUFFLEHOG}/openrouter/openrouter.go:28 (none in gitleaks)",
    ),
    Format("groq_key", r"(gsk_[A-Za-z0-9]{52})\b", "Groq keys (`gsk_...`)", ("gsk_",), f"{TRUFFLEHOG}/groq/groq.go:25 (none in gitleaks)"),
    Format("xai_key", r"(xai-[0-9A-Za-z_]{80})\b", "xAI keys (`xai-...`)", ("xai-",), f"{TRUFFLEHOG}/xai/xai.go:28 (none in gitleaks)"),
    Format("perplexity_key", r"(pplx-[A-Za-z0-9]{48})\b", "Perplexity keys (`pplx-...`)", ("pplx-",), f"{GITLEAKS}:2720 perplexity-api-key"),
    Format(
        "huggingface_token",
        # trufflehog's [A-Za-z0-9]{34}, a superset of gitleaks' letters-only body: a missed token is a leak.
        LEFT + r"((?:hf_|api_org_)[A-Za-z0-9]{34})\b",
        "Hugging Face tokens (`hf_...`, `api_org_...`)",
        ("hf_", "api_org_"),
        f"{GITLEAKS}:2366 huggingface-access-token, :2373 huggingface-organization-api-token",
    ),
    Format(
        "replicate_token",
        LEFT + r"(r8_[0-9A-Za-z_-]{37})",
        "Replicate tokens (`r8_...`)",
        ("r8_",),
        f"{TRUFFLEHOG}/replicate/replicate.go:25 (none in gitleaks)",
    ),
    Format(
        "langsmith_key",
        r"(lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10})\b",
        "LangSmith keys (`lsv2_pt_...`, `lsv2_sk_...`)",
        ("lsv2_pt_", "lsv2_sk_"),
        f"{TRUFFLEHOG}/langsmith/langsmith.go:26 (none in gitleaks)",
    ),
    Format(
        "aws_bedrock_key",
        r"(ABSK[A-Za-z0-9+/]{109,269}={0,2})",
        "Amazon Bedrock long-lived API keys (`ABSK...`)",
        ("ABSK",),
        f"{GITLEAKS}:225 aws-amazon-bedrock-api-key-long-lived",
    ),
    Format(
        "aws_bedrock_key",
        # gitleaks matches the fixed prefix only; the presigned rest is masked too.
        LEFT + r"(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=]*)",
        "Amazon Bedrock short-lived API keys (`bedrock-api-key-...`)",
        ("bedrock-api-key-",),
        f"{GITLEAKS}:232 aws-amazon-bedrock-api-key-short-lived",
    ),
    # --- source control
    Format(
        "github_token",
        r"(gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82})",
        "GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`)",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        f"{GITLEAKS}:2161 github-pat, :2154 github-oauth, :2133 github-app-token, :2172 github-refresh-token, "
        ":2147 github-fine-grained-pat",
    ),
    Format(
        "gitlab_token",
        r"((?:glpat-|glrt-t[0-9]_)[0-9A-Za-z_-]{27,300}\.[0-9a-z]{9}"
        r"|gl(?:pat|rt|dt|ft|soat|ffct)-[0-9A-Za-z_-]{20}"
        r"|glcbt-[0-9A-Za-z]{1,5}_[0-9A-Za-z_-]{20}"
        r"|glimt-[0-9A-Za-z_-]{25}|glagent-[0-9A-Za-z_-]{50}|gloas-[0-9A-Za-z_-]{64}"
        r"|glptt-[0-9a-f]{40}|GR1348941[0-9A-Za-z_-]{20})",
        "GitLab tokens (`glpat-`, `glrt-`, `gldt-`, `glcbt-`, ... and runner registration `GR1348941`)",
        ("glpat-", "glrt-", "gldt-", "glft-", "glsoat-", "glffct-", "glcbt-", "glimt-", "glagent-", "gloas-", "glptt-", "GR1348941"),
        f"{GITLEAKS}:2179-2270 gitlab-pat, gitlab-pat-routable, gitlab-runner-authentication-token(-routable), "
        "gitlab-deploy-token, gitlab-feed-token, gitlab-scim-token, gitlab-feature-flag-client-token, "
        "gitlab-cicd-job-token, gitlab-incoming-mail-token, gitlab-kubernetes-agent-token, gitlab-oauth-app-secret, "
        "gitlab-ptt, gitlab-rrt",
    ),
    Format(
        "atlassian_token",
        r"(ATATT3[A-Za-z0-9_=-]{186})",
        "Atlassian (Jira, Confluence, Bitbucket) API tokens (`ATATT3...`)",
        ("ATATT3",),
        f"{GITLEAKS}:184 atlassian-api-token",
    ),
    # --- chat platforms
    Format(
        "slack_token",
        r"(xoxb-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9-]*|xoxb-[0-9]{8,14}-[A-Za-z0-9]{18,26}"
        r"|xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9-]{28,34}|xox[ar]-(?:[0-9]-)?[0-9A-Za-z]{8,48}"
        r"|xox[os]-[0-9]+-[0-9]+-[0-9]+-[0-9A-Fa-f]+|xoxe\.xox[bp]-[0-9]-[0-9A-Za-z]{163,166}"
        r"|xoxe-[0-9]-[0-9A-Za-z]{146}|xapp-[0-9]-[0-9A-Za-z]+-[0-9]+-[0-9A-Za-z]+)",
        "Slack tokens (`xoxb-`, `xoxp-`, `xoxa-`, `xoxe`, `xapp-`)",
        ("xox", "xapp-"),
        f"{GITLEAKS}:2966-3024 slack-bot-token, slack-legacy-bot-token, slack-user-token, slack-legacy-workspace-token, "
        "slack-legacy-token, slack-config-access-token, slack-config-refresh-token, slack-app-token",
    ),
    Format(
        "slack_webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9+/]{43,56})",
        "the secret path of Slack webhook URLs",
        ("hooks.slack.com/",),
        f"{GITLEAKS}:3034 slack-webhook-url",
    ),
    Format(
        "discord_webhook",
        r"discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/([0-9A-Za-z_-]{68})",
        "the token of Discord webhook URLs",
        ("/api/webhooks/",),
        f"{TRUFFLEHOG}/discordwebhook/discordwebhook.go:23, widened to discordapp.com and 17-20 digit ids (none in gitleaks)",
    ),
    Format(
        "teams_webhook",
        r"webhook\.office\.com/webhookb2/([0-9a-z]{8}-(?:[0-9a-z]{4}-){3}[0-9a-z]{12}@[0-9a-z]{8}-(?:[0-9a-z]{4}-){3}[0-9a-z]{12}"
        r"/IncomingWebhook/[0-9a-z]{32}/[0-9a-z]{8}-(?:[0-9a-z]{4}-){3}[0-9a-z]{12})",
        "the secret path of Microsoft Teams incoming-webhook URLs",
        ("webhook.office.com/",),
        f"{GITLEAKS}:2610 microsoft-teams-webhook",
    ),
    Format(
        "url_signature",
        # Go's encoding/json writes `&` as \u0026.
        r"(?:[?&]|\\u0026)sig=([A-Za-z0-9_%-]+)",
        "`sig=` URL signatures (Teams Workflows and Power Automate webhooks, Azure SAS)",
        ("sig=",),
        f"{TRUFFLEHOG}/microsoftteamswebhook/v2/microsoftteamswebhook.go:33,36 (none in gitleaks)",
    ),
    Format(
        "telegram_bot_token",
        # gitleaks asks for `telegr` in a key name before it; in a gateway's logs the token stands in bot URLs.
        r"([0-9]{5,16}:A[0-9A-Za-z_-]{34})",
        "Telegram bot tokens (`123456789:A...`)",
        (":A",),
        f"{GITLEAKS}:3107 telegram-bot-api-token, without its key-name context",
    ),
    # --- other tools around a gateway
    Format(
        "stripe_key",
        LEFT + r"((?:sk|rk)_(?:test|live|prod)_[0-9A-Za-z]{10,99})\b",
        "Stripe secret and restricted keys (`sk_live_`, `rk_live_`, ...)",
        ("sk_test_", "sk_live_", "sk_prod_", "rk_test_", "rk_live_", "rk_prod_"),
        f"{GITLEAKS}:3079 stripe-access-token",
    ),
    Format("npm_token", LEFT + r"(npm_[A-Za-z0-9]{36})\b", "npm tokens (`npm_...`)", ("npm_",), f"{GITLEAKS}:2661 npm-access-token"),
    Format(
        "pypi_token",
        r"(pypi-AgEIcHlwaS5vcmc[0-9A-Za-z_-]{50,})",
        "PyPI upload tokens (`pypi-AgEIcHlwaS5vcmc...`)",
        ("pypi-AgEIcHlwaS5vcmc",),
        f"{GITLEAKS}:2811 pypi-upload-token",
    ),
    Format("twilio_api_key", LEFT + r"(SK[0-9A-Fa-f]{32})\b", "Twilio API keys (`SK...`)", ("SK",), f"{GITLEAKS}:3119 twilio-api-key"),
    Format(
        "sendgrid_key", LEFT + r"(SG\.[0-9A-Za-z_.=-]{66})", "SendGrid keys (`SG....`)", ("SG.",), f"{GITLEAKS}:2857 sendgrid-api-token"
    ),
    Format(
        "grafana_token",
        r"(eyJrIjoi[A-Za-z0-9]{70,400}={0,3}|glc_[A-Za-z0-9+/]{32,400}={0,3}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})",
        "Grafana API keys, Cloud tokens and service-account tokens (`eyJrIjoi`, `glc_`, `glsa_`)",
        ("eyJrIjoi", "glc_", "glsa_"),
        f"{GITLEAKS}:2299 grafana-api-key, :2306 grafana-cloud-api-token, :2313 grafana-service-account-token",
    ),
    Format(
        "vault_token",
        r"(hvs\.[0-9A-Za-z_-]{90,120}|hvb\.[0-9A-Za-z_-]{138,300})",
        "HashiCorp Vault tokens (`hvs.`, `hvb.`)",
        ("hvs.", "hvb."),
        f"{GITLEAKS}:3175 vault-service-token, :3168 vault-batch-token",
    ),
    Format(
        "doppler_token",
        r"(dp\.(?:ct|pt|st(?:\.[a-z0-9_-]{2,35})?|sa|scim|audit)\.[A-Za-z0-9]{40,44})\b",
        "Doppler tokens (`dp.pt.`, `dp.st.`, ...)",
        ("dp.ct.", "dp.pt.", "dp.st.", "dp.sa.", "dp.scim.", "dp.audit."),
        f"{GITLEAKS}:443 doppler-api-token, widened to every prefix of {TRUFFLEHOG}/doppler/doppler.go:35",
    ),
    Format(
        "postman_key",
        r"(PMAK-[0-9A-Fa-f]{24}-[0-9A-Fa-f]{34})\b",
        "Postman API keys (`PMAK-...`)",
        ("PMAK-",),
        f"{GITLEAKS}:2773 postman-api-token",
    ),
    Format(
        "sentry_token",
        r"(sntryu_[0-9a-f]{64}\b|sntrys_eyJpYXQiO[A-Za-z0-9+/]{10,200}(?:LCJyZWdpb25fdXJs|InJlZ2lvbl91cmwi|cmVnaW9uX3VybCI6)"
        r"[A-Za-z0-9+/]{10,200}={0,2}_[A-Za-z0-9+/]{43})",
        "Sentry user and organisation tokens (`sntryu_`, `sntrys_`)",
        ("sntryu_", "sntrys_"),
        f"{GITLEAKS}:2885 sentry-user-token, :2878 sentry-org-token",
    ),
    Format(
        "shopify_token",
        r"(shp(?:at|ca|pa|ss)_[0-9A-Fa-f]{32})",
        "Shopify tokens (`shpat_`, `shpca_`, `shppa_`, `shpss_`)",
        ("shpat_", "shpca_", "shppa_", "shpss_"),
        f"{GITLEAKS}:2920-2941 shopify-access-token, -custom-access-token, -private-app-access-token, shopify-shared-secret",
    ),
    Format(
        "private_key",
        # The body only, a closed class (base64, PEM header punctuation, a
        # single dash, escapes at any JSON depth), so a line cut before
        # -----END is still masked and the capture stops at the string's end.
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----((?:[A-Za-z0-9+/=:,.\s]|\\+[nrt]|-[A-Za-z0-9])+)",
        "PEM private key blocks (the body between BEGIN and END)",
        ("-----BEGIN",),
        f"{GITLEAKS}:2787 private-key",
    ),
)

# Personal data with no literal to look for: its rules share the shapes gate
# in redaction.py (one regex pass for a clean line in Promtail).
_IBAN_COUNTRIES = (
    "AD|AE|AL|AT|AZ|BA|BE|BG|BH|BR|BY|CH|CR|CY|CZ|DE|DK|DO|EE|EG|ES|FI|FO|FR|GB|GE|GI|GL|GR|GT|HR|HU|IE|IL|IQ|IS|IT|"
    "JO|KW|KZ|LB|LC|LI|LT|LU|LV|LY|MC|MD|ME|MK|MR|MT|MU|NL|NO|PK|PL|PS|PT|QA|RO|RS|SA|SC|SE|SI|SK|SM|TL|TN|TR|UA|"
    "VA|VG|XK"
)

def _by_first_letter(codes: str) -> str:
    """`AD|AE|AL` as `A[DEL]`: one branch per first letter, which Python's re
    (the kit) runs about twice as fast as 76 branches; RE2 reads both alike."""
    first_letters: dict[str, str] = {}
    for code in codes.split("|"):
        first_letters[code[0]] = first_letters.get(code[0], "") + code[1]
    return "|".join(f"{first}[{seconds}]" for first, seconds in first_letters.items())


PERSONAL = (
    Format(
        "us_ssn",
        # Area not 000, 666 or 9xx (ITINs), group not 00, serial not 0000.
        LEFT_OF_ID
        + r"((?:00[1-9]|0[1-9][0-9]|[1-5][0-9]{2}|6[0-57-9][0-9]|66[0-57-9]|[78][0-9]{2})-(?:0[1-9]|[1-9][0-9])"
        r"-(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3}))\b",
        "US social security numbers (`219-09-9999`)",
        r"\d{3}-\d{2}-\d{4}",
        f"{PRESIDIO}/country_specific/us/us_ssn_recognizer.py:18-24, its invalidate_result :55-84 as classes",
    ),
    Format(
        "iban",
        left_of("A-Za-z0-9") + rf"((?:{_by_first_letter(_IBAN_COUNTRIES)})[0-9]{{2}}(?:[ -]?[A-Z0-9]{{4}}){{2,7}}(?:[ -]?[A-Z0-9]{{1,3}})?)\b",
        "IBANs of the 76 countries Presidio knows (`DE89 3704 0044 0532 0130 00`; mod 97 checked by the kit)",
        r"[A-Z]{2}\d{2}[ -]?[A-Z0-9]{4}[ -]?[A-Z0-9]{4}",
        f"{PRESIDIO}/generic/iban_recognizer.py:54-61, mod 97 :95-114",
        checksum="iban",
    ),
    Format(
        "uk_nino",
        # Presidio's negative look-ahead (no BG, GB, NK, KN, NT, TN, ZZ) as classes per first letter.
        LEFT_OF_ID
        + r"((?:[ACEHJLMOPRSWXY][A-CEGHJ-NPR-TW-Z]|B[A-CEHJ-NPR-TW-Z]|G[ACEGHJ-NPR-TW-Z]|[KT][A-CEGHJ-MPR-TW-Z]"
        r"|N[A-CEGHJL-NPRSW-Z]|Z[A-CEGHJ-NPR-TW-Y]) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D])\b",
        "UK National Insurance numbers (`AB 12 34 56 C`)",
        r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]",
        f"{PRESIDIO}/country_specific/uk/uk_nino_recognizer.py:18-24",
    ),
)
