-- 0003_signin: the outcomes of sign-in requests (POST /signin/passwordless/sms)
-- in otpflow.processed_requests, beside those of sign-ups and re-issues:
--   signin_code       an existing user got a new code
--   signin_throttled  within the number's cooldown or hourly cap: no code
--   signin_refused    the user is disabled or anonymous: no code
--   signin_no_user    unknown number and automatic sign-up is off
-- (an unknown number signed up automatically is 'created').
ALTER TABLE otpflow.processed_requests
	DROP CONSTRAINT IF EXISTS processed_requests_outcome_check;
ALTER TABLE otpflow.processed_requests
	ADD CONSTRAINT processed_requests_outcome_check
	CHECK (outcome IN ('created', 'existing', 'dropped', 'reissued',
			   'signin_code', 'signin_throttled', 'signin_refused',
			   'signin_no_user'));
