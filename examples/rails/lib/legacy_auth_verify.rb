# frozen_string_literal: true

require "digest"
require "json"
require "securerandom"
require "legacy_auth_verify/version"
require "legacy_auth_verify/configuration"
require "legacy_auth_verify/credential"
require "legacy_auth_verify/identity"
require "legacy_auth_verify/revocation"
require "legacy_auth_verify/sessions"
require "legacy_auth_verify/session_bridge"
require "legacy_auth_verify/engine"

# LegacyAuthVerify is the Rails side of Kong's legacy-auth plugin: a
# mountable verify endpoint (LegacyAuthVerify::Engine), server-side session
# tracking (LegacyAuthVerify::Sessions) and the revocation hooks below,
# which publish to the plugin's Redis channel (LegacyAuthVerify::Revocation).
#
# Every hook ends the Rails side first (so Rails answers 401 from then on)
# and then evicts the user's cached identities on every Kong node. The
# eviction is by user_id: it does not depend on how the plugin hashes a
# credential, and the user's other live credentials are simply verified
# again on their next request (one call each).
module LegacyAuthVerify
  class << self
    # config is the process-wide Configuration.
    def config
      @config ||= Configuration.new
    end

    # configure yields the Configuration, for config/initializers.
    def configure
      yield config
    end

    # on_login records a new tracked session for user in the app's session
    # (call it after your own sign-in and reset_session). Returns the
    # session id.
    def on_login(session, user)
      Sessions.start(session, Identity.user_id_of(user))
    end

    # on_logout ends the tracked session of session at Rails (a replayed
    # cookie answers 401 from now on) and evicts its user at Kong.
    # Returns the user id it ended, or nil when the session was not live.
    def on_logout(session)
      user_id = Sessions.finish(session)
      Revocation.revoke_user(user_id) if user_id
      user_id
    end

    # on_token_revoked: call it after deleting or expiring an API token in
    # your database. authorization is the header value the client sends
    # ("Bearer <token>") when you have it (on a logout with the token),
    # else nil.
    def on_token_revoked(user, authorization: nil)
      Revocation.revoke(user_id: Identity.user_id_of(user), authorization: authorization)
    end

    # on_password_change ends every tracked session of user and evicts the
    # user at Kong. (Revoke API tokens too, if a password change should.)
    def on_password_change(user)
      end_everything(user)
    end

    # on_role_change evicts the user at Kong: the next request is verified
    # again and carries the new roles. Sessions stay valid.
    def on_role_change(user)
      Revocation.revoke_user(Identity.user_id_of(user))
    end

    # on_account_disable ends every tracked session of user and evicts the
    # user at Kong; from then on the verify endpoint answers 403 for the
    # user's tokens (config.disabled) and 401 for the ended sessions.
    def on_account_disable(user)
      end_everything(user)
    end

    private

    def end_everything(user)
      user_id = Identity.user_id_of(user)
      Sessions.finish_all(user_id)
      Revocation.revoke_user(user_id)
    end
  end
end
