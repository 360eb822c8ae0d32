# frozen_string_literal: true

module Internal
  module Auth
    # Answers Kong's legacy-auth plugin: who holds this Authorization header?
    #
    #   POST /internal/auth/verify   (or GET, per the plugin's auth_method)
    #   Authorization: <the client's header, verbatim>
    #   Content-Type: application/json          (no body)
    #
    #   200 {"user_id": 42, "roles": ["admin", "editor"]}
    #   401 {"error": "invalid credentials"}    no, malformed or unknown credential
    #   403 {"error": "access denied"}          valid credential, account may not pass
    #
    # The contract is described in examples/rails/README.md.
    #
    # ActionController::API on purpose, not ApplicationController:
    # * no CSRF check: Kong's POST carries no authenticity token, and
    #   protect_from_forgery would answer 422, which clients see as 502;
    # * no redirect to a login page: a before_action like Devise's
    #   authenticate_user! answers 302, which the plugin does not follow
    #   (clients see 502). This controller answers 401 itself.
    class VerifyController < ActionController::API
      include ActionController::HttpAuthentication::Token::ControllerMethods

      before_action :no_store

      def verify
        user = authenticate_with_http_token { |token, _options| user_for_token(token) }
        return render_error(:unauthorized, "invalid credentials") unless user
        return render_error(:forbidden, "access denied") unless allowed?(user)

        render json: { user_id: user.id, roles: role_names(user) }, status: :ok
      end

      private

      # The app's existing credential check goes here: call the same code its
      # own API controllers (or its session store) use, so the gateway and
      # the monolith can never disagree about who is logged in. This default
      # assumes API tokens stored as SHA-256 digests.
      #
      # authenticate_with_http_token hands over the credential of
      # "Authorization: Bearer <token>" or "Authorization: Token token=<token>";
      # any other scheme yields nil, i.e. 401.
      def user_for_token(token)
        ApiToken.active.find_by(token_digest: Digest::SHA256.hexdigest(token))&.user
      end

      # 403 is for a credential that is valid but must not pass: a locked or
      # suspended account. Kong passes the status on to the client.
      def allowed?(user)
        !(user.respond_to?(:locked?) && user.locked?)
      end

      # Role names as strings. Kong joins them with commas into X-User-Roles
      # and refuses (500) an answer with an empty role or a comma inside a
      # role, so such names are left out here rather than locking the user out.
      def role_names(user)
        user.roles.map { |role| role.name.to_s }.reject { |name| name.empty? || name.include?(",") }.uniq
      end

      def render_error(status, message)
        render json: { error: message }, status: status
      end

      # Answers are per credential: no shared cache may keep them. Kong's own
      # cache is the plugin's (cache_ttl).
      def no_store
        response.headers["Cache-Control"] = "no-store"
      end
    end
  end
end
