/*
 * price.c - what tenants cost by the tier catalog, in cents.
 */
#include "base/compat.h"

#include <math.h>
#include <stdio.h>

#include "manifest/manifest.h"

/* Past this many cents an amount is not a price but a mistake, and it
 * still sums exactly in an int64_t over millions of tenants. */
#define MONEY_MAX_CENTS 1000000000000000LL

const char *manifest_catalog_currency(const struct mf_catalog *c)
{
  return c && c->spec.currency.v ? c->spec.currency.v
                                 : MANIFEST_CURRENCY_DEFAULT;
}

int manifest_tier_price(const struct mf_tier *tier, int64_t *cents)
{
  double v = tier->monthly_price.v * 100;

  *cents = 0;
  /* Absent is pos.line 0; the decoder refuses negative and infinite. */
  if (!tier->monthly_price.pos.line || !(v >= 0) || v > MONEY_MAX_CENTS)
    return TD_ENOTFOUND;
  *cents = (int64_t)llround(v);
  return 0;
}

int manifest_tenant_monthly(const struct mf_catalog *c,
                            const struct mf_tenant *t, int64_t *cents)
{
  const struct mf_tier *tier =
      c && t->spec.tier.v ? manifest_catalog_find(c, t->spec.tier.v) : NULL;
  int64_t price;

  *cents = 0;
  if (!tier || manifest_tier_price(tier, &price) < 0)
    return TD_ENOTFOUND;
  if (c->spec.price_basis.v == MF_PRICE_PER_ENVIRONMENT)
    price *= (int64_t)t->spec.envs.n;
  *cents = price;
  return 0;
}

void manifest_money_text(int64_t cents, char buf[MANIFEST_MONEY_TEXT_MAX])
{
  /* The magnitude as unsigned: -INT64_MIN does not fit an int64_t. */
  uint64_t mag = cents < 0 ? 0 - (uint64_t)cents : (uint64_t)cents;
  const char *sign = cents < 0 ? "-" : "";

  if (mag % 100 == 0)
    snprintf(buf, MANIFEST_MONEY_TEXT_MAX, "%s%llu", sign,
             (unsigned long long)(mag / 100));
  else
    snprintf(buf, MANIFEST_MONEY_TEXT_MAX, "%s%llu.%02llu", sign,
             (unsigned long long)(mag / 100), (unsigned long long)(mag % 100));
}

int manifest_money_parse(const char *s, int64_t *cents)
{
  bool neg = *s == '-';
  int64_t whole = 0, frac = 0;
  int digits = 0, decimals = 0;

  *cents = 0;
  s += neg;
  for (; *s >= '0' && *s <= '9'; s++, digits++) {
    whole = whole * 10 + (*s - '0');
    if (whole > MONEY_MAX_CENTS / 100)
      return TD_EINVALID;
  }
  if (*s == '.') {
    for (s++; *s >= '0' && *s <= '9' && decimals < 2; s++, decimals++)
      frac = frac * 10 + (*s - '0');
    if (decimals == 0)
      return TD_EINVALID;
    if (decimals == 1)
      frac *= 10;
  }
  if (digits == 0 || *s)
    return TD_EINVALID;
  *cents = (whole * 100 + frac) * (neg ? -1 : 1);
  return 0;
}
