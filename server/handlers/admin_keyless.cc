// The admin API's keyless calls: a namespace's trusted identities (managed
// by its maintainers, like keys) and the sigstore trust roots keyless
// signatures are verified against (managed by admins) (docs/admin-api.md).
#include "server/handlers/admin_json.h"
#include "server/handlers/trust_gate.h"

#include "trust/trust.h"

namespace keep::server::handlers {
namespace {

using namespace admin;

constexpr std::size_t kMaxIssuer = 256;
constexpr std::size_t kMaxSubject = 1024;
constexpr std::size_t kMaxSubjectRegex = 256;
constexpr std::size_t kMaxExtensions = 16;
constexpr std::size_t kMaxExtensionText = 256;

json IdentityJson(const TrustedIdentityRecord& r) {
  json extensions = json::parse(r.extensions_json, nullptr, false);
  return {{"name", r.name},
          {"signer_id", IdentitySignerId(r.name)},
          {"issuer", r.issuer},
          {"subject", r.subject},
          {"subject_regex", r.subject_regex},
          {"extensions", extensions.is_object() ? extensions : json::object()},
          {"added_by", r.added_by},
          {"added_at", r.added_at},
          {"revoked", r.revoked}};
}

Result<TrustedIdentityRecord> FindIdentity(Metadata& md, const std::string& ns,
                                           const std::string& name) {
  auto found = md.GetIdentity(ns, name);
  if (!found) return found.error();
  if (!*found) {
    return Fail(ErrorCode::kNotFound, "namespace " + ns + " has no identity named " + name);
  }
  return std::move(**found);
}

// Printable ASCII without spaces, 1 to `max` characters.
bool IsPlainText(const std::string& text, std::size_t max) {
  if (text.empty() || text.size() > max) return false;
  for (char c : text) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

// The request's identity, every field checked (kInvalid naming it).
Result<TrustedIdentityRecord> ReadIdentity(const json& body, const std::string& ns) {
  TrustedIdentityRecord r;
  r.ns = ns;
  auto name = StringField(body, "name");
  if (!name) return name.error();
  if (!*name) return Fail(ErrorCode::kInvalid, "field \"name\" is required");
  KEEP_TRY(ValidateSignerName("identity", **name));
  r.name = **name;
  auto issuer = StringField(body, "issuer");
  if (!issuer) return issuer.error();
  if (!*issuer || !IsPlainText(**issuer, kMaxIssuer)) {
    return Fail(ErrorCode::kInvalid,
                "field \"issuer\" (the OIDC issuer, e.g. "
                "https://token.actions.githubusercontent.com) is required: 1 to 256 printable "
                "characters without spaces");
  }
  r.issuer = **issuer;
  auto subject = StringField(body, "subject");
  if (!subject) return subject.error();
  auto regex = StringField(body, "subject_regex");
  if (!regex) return regex.error();
  if (subject->has_value() == regex->has_value()) {
    return Fail(ErrorCode::kInvalid,
                "give exactly one of \"subject\" (the certificate's subject, exactly) and "
                "\"subject_regex\" (a regular expression that must match it whole)");
  }
  if (*subject) {
    if ((*subject)->empty() || (*subject)->size() > kMaxSubject) {
      return Fail(ErrorCode::kInvalid, "field \"subject\" must be 1 to 1024 characters");
    }
    r.subject = **subject;
  } else {
    if ((*regex)->empty() || (*regex)->size() > kMaxSubjectRegex) {
      return Fail(ErrorCode::kInvalid, "field \"subject_regex\" must be 1 to 256 characters");
    }
    r.subject_regex = **regex;
  }
  json extensions = json::object();
  if (auto it = body.find("extensions"); it != body.end() && !it->is_null()) {
    if (!it->is_object() || it->size() > kMaxExtensions) {
      return Fail(ErrorCode::kInvalid,
                  "field \"extensions\" must be an object of at most 16 \"<name or OID>\": "
                  "\"<value>\" members");
    }
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string() || key.size() > kMaxExtensionText ||
          value.get_ref<const std::string&>().size() > kMaxExtensionText) {
        return Fail(ErrorCode::kInvalid, "extension \"" + key.substr(0, kMaxExtensionText) +
                                             "\" must have a string value of at most 256 "
                                             "characters");
      }
    }
    extensions = *it;
  }
  r.extensions_json = extensions.dump();
  // The rest as the verifier will read it: a subject expression that
  // compiles, Fulcio extensions by OID or known name, each with a value.
  auto identity = KeylessIdentityOf(r);
  if (!identity) return identity.error();
  KEEP_TRY(CheckIdentity(*identity));
  return r;
}

json ReverifiedJson(const Reverified& r) {
  return {{"restored", r.restored}, {"withdrawn", r.withdrawn}};
}

json RootJson(const TrustRootRecord& r, const TrustedRoot* parsed) {
  json out = {
      {"name", r.name}, {"sha256", r.digest}, {"added_by", r.added_by}, {"added_at", r.added_at}};
  if (parsed != nullptr) {
    out["certificate_authorities"] = parsed->certificate_authorities.size();
    out["tlogs"] = parsed->tlogs.size();
    out["ctlogs"] = parsed->ctlogs.size();
    out["timestamp_authorities"] = parsed->timestamp_authorities.size();
  }
  return out;
}

}  // namespace

Awaitable<Result<Reply>> ListIdentities(Exchange& ex) {
  auto& md = ex.services().metadata;
  KEEP_CO_TRY(FindNamespace(md, ex.params.name));
  auto ids = md.ListIdentities(ex.params.name);
  if (!ids) co_return ids.error();
  json list = json::array();
  for (const auto& r : *ids) list.push_back(IdentityJson(r));
  co_return JsonReply(http::status::ok, {{"identities", std::move(list)}});
}

Awaitable<Result<Reply>> AddIdentity(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"name", "issuer", "subject", "subject_regex",
                                                 "extensions"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto record = ReadIdentity(*body, ex.params.name);
  if (!record) co_return record.error();
  KEEP_CO_TRY(FindNamespace(md, ex.params.name));
  record->added_by = ex.who.user;
  KEEP_CO_TRY(md.AddIdentity(*record));
  AuditEvent event = AuditBy(ex, "identity.add", record->ns, record->name);
  event.details = {{"event", "identity added"},
                   {"identity", record->name},
                   {"issuer", record->issuer},
                   {"subject", record->subject},
                   {"subject_regex", record->subject_regex}};
  Audit(std::move(event));
  auto stored = FindIdentity(md, record->ns, record->name);
  if (!stored) co_return stored.error();
  co_return JsonReply(http::status::created, IdentityJson(*stored));
}

Awaitable<Result<Reply>> ShowIdentity(Exchange& ex) {
  auto found = FindIdentity(ex.services().metadata, ex.params.name, ex.params.reference);
  if (!found) co_return found.error();
  co_return JsonReply(http::status::ok, IdentityJson(*found));
}

Awaitable<Result<Reply>> RevokeIdentity(Exchange& ex) {
  auto& md = ex.services().metadata;
  auto found = md.RevokeIdentity(ex.params.name, ex.params.reference);
  if (!found) co_return found.error();
  if (!*found) {
    co_return Fail(ErrorCode::kNotFound,
                   "namespace " + ex.params.name + " has no identity named " + ex.params.reference);
  }
  AuditEvent event = AuditBy(ex, "identity.remove", ex.params.name, ex.params.reference);
  event.details = {{"event", "identity revoked"}, {"identity", ex.params.reference}};
  Audit(std::move(event));
  auto stored = FindIdentity(md, ex.params.name, ex.params.reference);
  if (!stored) co_return stored.error();
  co_return JsonReply(http::status::ok, IdentityJson(*stored));
}

Awaitable<Result<Reply>> ListTrustRoots(Exchange& ex) {
  auto roots = ex.services().metadata.ListTrustRoots();
  if (!roots) co_return roots.error();
  json list = json::array();
  for (const auto& r : *roots) {
    auto parsed = ParseTrustedRoot(r.content);
    list.push_back(RootJson(r, parsed ? &*parsed : nullptr));
  }
  co_return JsonReply(http::status::ok, {{"trust_roots", std::move(list)}});
}

Awaitable<Result<Reply>> ShowTrustRoot(Exchange& ex) {
  auto roots = ex.services().metadata.ListTrustRoots();
  if (!roots) co_return roots.error();
  for (const auto& r : *roots) {
    if (r.name != ex.params.name) continue;
    auto parsed = ParseTrustedRoot(r.content);
    json out = RootJson(r, parsed ? &*parsed : nullptr);
    out["trusted_root"] = r.content;
    co_return JsonReply(http::status::ok, out);
  }
  co_return Fail(ErrorCode::kNotFound, "no trust root named " + ex.params.name);
}

Awaitable<Result<Reply>> SetTrustRoot(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"trusted_root"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto text = StringField(*body, "trusted_root");
  if (!text) co_return text.error();
  if (!*text) {
    co_return Fail(ErrorCode::kInvalid,
                   "field \"trusted_root\" (the text of a sigstore trusted_root.json) is required");
  }
  auto parsed = ParseTrustedRoot(**text);
  if (!parsed) co_return Fail(ErrorCode::kInvalid, "trusted_root: " + parsed.error().message);
  if (parsed->certificate_authorities.empty() || parsed->tlogs.empty()) {
    co_return Fail(ErrorCode::kInvalid,
                   "trusted_root: it names no Fulcio certificate authority or no transparency "
                   "log, so it can verify no keyless signature");
  }
  TrustRootRecord record{ex.params.name, **text, ex.who.user, 0, ""};
  KEEP_CO_TRY(md.SetTrustRoot(record));
  AuditEvent event = AuditBy(ex, "trust_root.set", "", record.name);
  event.details = {{"event", "trust root set"},
                   {"name", record.name},
                   {"sha256", Sha256Of(record.content).str()}};
  Audit(std::move(event));
  // What the root this one replaces vouched for is verified again now.
  auto reverified =
      co_await Offload(ex.services(), [&] { return ReverifyUnvouched(ex.services()); });
  if (!reverified) co_return reverified.error();
  auto roots = md.ListTrustRoots();
  if (!roots) co_return roots.error();
  for (const auto& r : *roots) {
    if (r.name != record.name) continue;
    json out = RootJson(r, &*parsed);
    out["reverified"] = ReverifiedJson(*reverified);
    co_return JsonReply(http::status::ok, out);
  }
  co_return Fail(ErrorCode::kInternal, "the trust root " + record.name + " was not stored");
}

Awaitable<Result<Reply>> DeleteTrustRoot(Exchange& ex) {
  auto removed = ex.services().metadata.DeleteTrustRoot(ex.params.name);
  if (!removed) co_return removed.error();
  if (!*removed) co_return Fail(ErrorCode::kNotFound, "no trust root named " + ex.params.name);
  AuditEvent event = AuditBy(ex, "trust_root.remove", "", ex.params.name);
  event.details = {{"event", "trust root removed"}, {"name", ex.params.name}};
  Audit(std::move(event));
  // What it vouched for counts no more (the metadata's trust decision says
  // so already); what another installed root vouches for is verified again.
  auto reverified =
      co_await Offload(ex.services(), [&] { return ReverifyUnvouched(ex.services()); });
  if (!reverified) co_return reverified.error();
  co_return Reply::Empty(http::status::no_content);
}

}  // namespace keep::server::handlers
