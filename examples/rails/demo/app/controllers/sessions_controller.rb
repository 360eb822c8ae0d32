# frozen_string_literal: true

# SessionsController is the demo's login and logout.
class SessionsController < ApplicationController
  # Demo only: logging in with curl or a test's form post, without a login
  # page to carry an authenticity token. A real login form keeps CSRF on.
  skip_forgery_protection

  # POST /login (username, password): sets the _legacy_session cookie.
  def create
    user = User.authenticate(params[:username], params[:password])
    return render json: { error: "invalid credentials" }, status: :unauthorized unless user
    return render json: { error: "account disabled" }, status: :forbidden if user.disabled?

    reset_session # a fresh session id on login (session fixation)
    session[:user_id] = user.id
    LegacyAuthVerify.on_login(session, user)
    render json: { user_id: user.id }
  end

  # POST /logout: revokes the bearer token it is sent with, or ends the
  # session it is sent with; either way Kong forgets it (with REDIS_URL).
  def destroy
    if request.authorization.present?
      token, _options = ActionController::HttpAuthentication::Token.token_and_options(request)
      api_token = token && ApiToken.find_by_token(token)
      return render json: { error: "invalid credentials" }, status: :unauthorized unless api_token

      api_token.destroy!
      LegacyAuthVerify.on_token_revoked(api_token.user, authorization: request.authorization)
    else
      user_id = LegacyAuthVerify.on_logout(session)
      reset_session
      return render json: { error: "not logged in" }, status: :unauthorized unless user_id
    end
    head :no_content
  end
end
