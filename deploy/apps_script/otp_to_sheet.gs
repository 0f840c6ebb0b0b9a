/**
 * Copies the web helpdesk's newest one-time password (OTP) e-mail into the Google Sheet that
 * support_assets reads (OTP_SHEET_ID / OTP_SHEET_CELL): the code goes in the configured cell as
 * text, the time the e-mail arrived (ISO 8601, UTC) in the cell to its right.
 *
 * Install: see deploy/apps_script/README.md. Configuration lives in the script properties:
 *   OTP_SHEET_ID     the spreadsheet id (from its URL)
 *   OTP_SHEET_CELL   A1 cell of the code, e.g. OTP!A2 (the time goes in B2)
 *   OTP_GMAIL_QUERY  Gmail search for the OTP e-mails, e.g. from:no-reply@helpdesk.com.br
 *                    newer_than:1d (default: the word "código" in e-mails of the last day)
 * Run installTrigger() once: it runs copyNewestOtp() every minute.
 *
 * The parsing rule (extractOtp) is the only logic here; the repository tests it with node on
 * sample e-mails (support_assets_tests/test_apps_script.py).
 */

var DEFAULT_QUERY = 'newer_than:1d (código OR codigo OR code OR OTP OR token)';
var CODE_WORDS = '(?:c[oó]digo|code|token|otp|senha)';
// A code: 4 to 8 digits (or letters and digits with at least one digit) standing alone.
var CODE = '([A-Za-z0-9]*\\d[A-Za-z0-9]*)';
// What may not follow a code: more of a word, a date or time, a decimal ("123456." ends a
// sentence and is fine).
var END = '(?![\\w/:-]|\\.\\d)';

/**
 * The OTP in an e-mail's subject and plain-text body, or null. A code right after a word that
 * names it (código, code, token, OTP, senha; a colon or "é"/"is" may follow) wins; otherwise
 * the only stand-alone run of 4 to 8 digits in the text. Dates, times, phone numbers and
 * longer numbers are never taken for a code, and two different candidates mean no answer.
 */
function extractOtp(subject, body) {
  var text = (subject || '') + '\n' + (body || '');
  var named = new RegExp(
    CODE_WORDS + '(?:\\s+de\\s+\\S+)*?(?:\\s*(?::|é|e|is|=|-))*\\s*' + CODE + END, 'i');
  var match = named.exec(text);
  if (match && match[1].length >= 4 && match[1].length <= 8) {
    return match[1];
  }
  var found = {};
  var digits = new RegExp('(^|[^\\w/:.+-])(\\d{4,8})' + END, 'g');
  var m;
  while ((m = digits.exec(text)) !== null) {
    found[m[2]] = true;
  }
  var codes = Object.keys(found);
  return codes.length === 1 ? codes[0] : null;
}

/** The newest message matching the query that carries a code: {code, date}, or null. */
function newestOtp(query) {
  var threads = GmailApp.search(query || DEFAULT_QUERY, 0, 20);
  var best = null;
  for (var t = 0; t < threads.length; t++) {
    var messages = threads[t].getMessages();
    for (var i = 0; i < messages.length; i++) {
      var message = messages[i];
      var code = extractOtp(message.getSubject(), message.getPlainBody());
      if (code !== null && (best === null || message.getDate() > best.date)) {
        best = {code: code, date: message.getDate()};
      }
    }
  }
  return best;
}

/** The configured cell and the one to its right: 'OTP!A2' -> 'OTP!A2:B2'. */
function otpAndTimeRange(cell) {
  var match = /^(?:(.+)!)?\$?([A-Za-z]{1,3})\$?(\d+)$/.exec(String(cell).trim());
  if (!match) {
    throw new Error('OTP_SHEET_CELL must be one cell in A1 notation, got ' + cell);
  }
  var letters = match[2].toUpperCase();
  var index = 0;
  for (var i = 0; i < letters.length; i++) {
    index = index * 26 + (letters.charCodeAt(i) - 64);
  }
  var right = '';
  for (var n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    right = String.fromCharCode(65 + ((n - 1) % 26)) + right;
  }
  var sheet = match[1] ? match[1] + '!' : '';
  return sheet + letters + match[3] + ':' + right + match[3];
}

/** Writes the newest OTP and its e-mail's time, unless the sheet holds them already. */
function copyNewestOtp() {
  var props = PropertiesService.getScriptProperties();
  var sheetId = props.getProperty('OTP_SHEET_ID');
  var cell = props.getProperty('OTP_SHEET_CELL') || 'OTP!A2';
  if (!sheetId) {
    throw new Error('set the script property OTP_SHEET_ID');
  }
  var otp = newestOtp(props.getProperty('OTP_GMAIL_QUERY'));
  if (otp === null) {
    console.log('no OTP e-mail found');
    return false;
  }
  var range = SpreadsheetApp.openById(sheetId).getRange(otpAndTimeRange(cell));
  var arrived = otp.date.toISOString();
  var current = range.getValues()[0];
  if (String(current[0]) === otp.code && String(current[1]) === arrived) {
    return false;
  }
  range.setNumberFormat('@'); // text: a code with leading zeros stays as it is
  range.setValues([[otp.code, arrived]]);
  console.log('OTP of ' + arrived + ' written to ' + cell); // never the code itself
  return true;
}

/** Run once: copyNewestOtp every minute (replaces an earlier trigger of this script). */
function installTrigger() {
  var triggers = ScriptApp.getProjectTriggers();
  for (var i = 0; i < triggers.length; i++) {
    if (triggers[i].getHandlerFunction() === 'copyNewestOtp') {
      ScriptApp.deleteTrigger(triggers[i]);
    }
  }
  ScriptApp.newTrigger('copyNewestOtp').timeBased().everyMinutes(1).create();
}
