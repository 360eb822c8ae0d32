# frozen_string_literal: true

module LegacyAuthVerify
  # Configuration is what a host app tells the engine, mostly as lambdas.
  # Each lambda runs on every verify call that misses Kong's cache: keep it
  # to the reads the app's own authentication does, with no writes.
  class Configuration
    # user_from_token: token → user or nil. Gets the token of
    # "Authorization: Bearer <token>" (or "Token token=<token>").
    attr_accessor :user_from_token
    # user_from_session: session → user or nil. Gets the app's own session
    # (its session store, the cookie store by default), read-only.
    attr_accessor :user_from_session
    # roles: user → array of role names (strings; a name that is empty or
    # has a comma or a control character is left out, as Kong would refuse
    # the whole answer).
    attr_accessor :roles
    # extra_fields: user → hash of extra answer fields for the plugin's
    # extra_headers (values: strings, integers, booleans or nil).
    attr_accessor :extra_fields
    # disabled: user → true when the account may not pass (403).
    attr_accessor :disabled
    # user_id: user → the id Kong passes on, an Integer or a String.
    # Default: user.id.
    attr_accessor :user_id
    # track_sessions: session credentials count only while the session's
    # tracking record exists (see Sessions), so a logout is real for a
    # replayed cookie. Default: true.
    attr_accessor :track_sessions
    # redis_url: where revocations are published, e.g.
    # ENV["REDIS_URL"]. Default: nil (hooks end the Rails side only).
    attr_accessor :redis_url
    # redis_prefix: the plugin's redis_prefix. Default: "legacy-auth:".
    attr_accessor :redis_prefix
    # logger: where publish failures are reported. Default: Rails.logger.
    attr_writer :logger

    def initialize
      @user_from_token = ->(_token) { nil }
      @user_from_session = ->(_session) { nil }
      @roles = ->(_user) { [] }
      @extra_fields = ->(_user) { {} }
      @disabled = ->(_user) { false }
      @user_id = ->(user) { user.id }
      @track_sessions = true
      @redis_url = nil
      @redis_prefix = "legacy-auth:"
      @logger = nil
    end

    # channel is the plugin's revocation channel: <redis_prefix>revoke.
    def channel
      "#{redis_prefix}revoke"
    end

    def logger
      @logger || (defined?(::Rails) && ::Rails.logger) || Logger.new($stderr)
    end
  end
end
