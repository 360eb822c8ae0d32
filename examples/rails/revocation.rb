# Cluster-wide revocation for legacy-auth (plugin config: redis_addrs set).
#
# Every Kong node's legacy-auth process subscribes to "<redis_prefix>revoke"
# (default "legacy-auth:revoke") and, on a message, drops the matching
# identities from its own cache and from the shared Redis cache.
#
# Message (JSON), one or both fields:
#   {"credential_sha256": "<hex SHA-256 of the exact Authorization header value>"}
#   {"user_id": "42"}   # every credential of user 42: logout everywhere, role change
#
# For session cookies, the hashed value is the Cookie header legacy-auth
# forwards ("_myapp_session=..."), or "<Authorization>\n<Cookie>" when a
# request carried both. An operator can do the same from a shell:
#   redis-cli PUBLISH legacy-auth:revoke '{"user_id":"42"}'
require "redis"
require "json"
require "digest"

module LegacyAuthRevocation
  CHANNEL = ENV.fetch("LEGACY_AUTH_REDIS_PREFIX", "legacy-auth:") + "revoke"

  def self.redis
    @redis ||= Redis.new(url: ENV.fetch("LEGACY_AUTH_REDIS_URL"))
  end

  # On logout: the header exactly as clients send it, e.g. "Bearer abc...".
  def self.revoke_credential(authorization_header)
    redis.publish(CHANNEL, { credential_sha256: Digest::SHA256.hexdigest(authorization_header) }.to_json)
  end

  # On "log out everywhere", password change, role change.
  def self.revoke_user(user_id)
    redis.publish(CHANNEL, { user_id: user_id.to_s }.to_json)
  end
end

# In Rails, e.g.:
#   after_action -> { LegacyAuthRevocation.revoke_credential(request.authorization) }, only: :destroy
#   after_commit -> { LegacyAuthRevocation.revoke_user(id) }, if: :saved_change_to_roles?
