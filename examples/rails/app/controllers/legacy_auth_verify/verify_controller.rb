# frozen_string_literal: true

module LegacyAuthVerify
  # VerifyController answers Kong's legacy-auth plugin: who holds this
  # credential?
  #
  #   GET or POST <mount>/verify
  #   Authorization: <the client's header, verbatim>     (when it sent one)
  #   Cookie: <only the plugin's cookie_names>           (when it sent them)
  #
  #   200 {"user_id": 42, "roles": ["admin"], ...extra}  Cache-Control: no-store
  #   401 {"error": "invalid credentials"}  no, malformed or unknown credential
  #   403 {"error": "account disabled"}     valid credential, account may not pass
  #
  # ActionController::API on purpose, not the app's ApplicationController:
  # no protect_from_forgery (Kong's POST has no authenticity token: 422,
  # which Kong reports as 502) and no inherited before_action that redirects
  # to a login page (Devise's authenticate_user!: 302, also a 502). Nothing
  # here writes: no session cookie, no "last seen" update.
  class VerifyController < ActionController::API
    wrap_parameters false # the plugin sends no body: never parse one

    before_action :read_only_answer

    def verify
      user = request.authorization.present? ? user_from_authorization : user_from_session
      return deny(:unauthorized, "invalid credentials") unless user
      return deny(:forbidden, "account disabled") if config.disabled.call(user)

      render json: Identity.answer(user), status: :ok
    end

    private

    def config
      LegacyAuthVerify.config
    end

    # An Authorization header decides alone: a bad token is 401 even when a
    # valid session cookie came along (the plugin caches the pair as one
    # credential). Schemes other than Bearer/Token are 401.
    def user_from_authorization
      token, _options = ActionController::HttpAuthentication::Token.token_and_options(request)
      return nil if token.nil? || token.empty?

      config.user_from_token.call(token)
    end

    def user_from_session
      session = request.session
      tracked = nil
      if config.track_sessions
        tracked = Sessions.user_id(session)
        return nil unless tracked
      end
      user = config.user_from_session.call(session)
      # A tracked session answers only for the user it was started for.
      return nil if user && tracked && Identity.user_id_of(user).to_s != tracked

      user
    end

    def deny(status, message)
      render json: { error: message }, status: status
    end

    def read_only_answer
      # Answers are per credential: no shared cache may keep them (Kong's
      # cache is the plugin's own, cache_ttl).
      response.headers["Cache-Control"] = "no-store"
      # Never write the session back, even with expire_after set (no
      # options at all when the app disabled sessions).
      options = request.session_options
      options[:skip] = true if options
    end
  end
end
